"""The coupling study: exact log-det against the brute-force Jacobian, timing, a tiny run."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.studies import coupling as study
from genlab.studies import get_study, run_study
from genlab.studies.density2d import DensitySettings, density_on_grid, gaussian_nats_per_dim
from genlab.studies.jacobian import LAYERS, brute_logdet, check_logdet, loglog_slope, make_coupling


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dim", [2, 3, 8, 17])
def test_exact_logdet_agrees_with_brute_force(kind, dim):
    check = check_logdet(kind, dim, examples=2, batch=8, repeats=1)
    assert check.max_abs_diff < 1e-6
    assert check.layer == kind and check.dim == dim


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_layers_are_not_the_identity(kind):
    layer = make_coupling(kind, 8)
    x = torch.randn(4, 8, dtype=torch.float64)
    y, logdet = layer(x)
    assert y.dtype == torch.float64 and not torch.allclose(y, x)
    assert logdet.abs().min() > 1e-6
    torch.testing.assert_close(brute_logdet(layer, x), logdet, atol=1e-10, rtol=0)


def test_timing_returns_both_costs():
    check = check_logdet("affine", 16, examples=2, batch=8, repeats=2)
    assert check.exact_s > 0 and check.brute_s > 0
    assert check.brute_s == pytest.approx(check.jacobian_s + check.slogdet_s)


def test_loglog_slope_recovers_the_exponent():
    dims = [64, 128, 256, 512]
    assert loglog_slope(dims, [3e-9 * d**3 for d in dims]) == pytest.approx(3.0)
    assert loglog_slope(dims, [1e-6 * d for d in dims]) == pytest.approx(1.0)


def test_gaussian_baseline_is_the_closed_form():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(20000, 2, generator=g), torch.randn(5000, 2, generator=g)
    exact = 0.5 * (1.0 + torch.log(torch.tensor(2 * torch.pi))).item()  # entropy of N(0, 1)
    assert gaussian_nats_per_dim(train, test) == pytest.approx(exact, abs=0.03)


class StandardNormal(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x * x).sum(1) + torch.log(torch.tensor(2 * torch.pi))


def test_density_grid_mass_of_a_known_density():
    density, mass = density_on_grid(StandardNormal(), grid=100, bound=5.0)
    assert density.shape == (100, 100)
    assert mass == pytest.approx(1.0, abs=1e-3)


TINY = study.CouplingSettings(
    dims=(2, 4, 8),
    examples=1,
    repeats=1,
    densities=DensitySettings(("moons",), steps=20, hidden=16, flow_steps=1, grid=24),
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    result = run_study("coupling", "quick", tmp_path / "c", device.type)
    saved = json.loads((tmp_path / "c" / "results.json").read_text())
    assert saved["study"] == "coupling" and saved["claim"] == study.CLAIM
    assert saved["verdict"] in ("holds", "does not hold", "inconclusive at this budget")
    assert saved["evidence"]["max_abs_logdet_diff_nats"] < 1e-6
    for key in [
        "exact_cost_exponent_spline",
        "brute_cost_exponent_affine",
        "test_nats_per_dim_nsf_moons",
        "gaussian_nats_per_dim_moons",
        "min_grid_mass",
    ]:
        assert key in saved["evidence"], key
    assert [f["file"] for f in saved["figures"]] == ["logdet_cost.png", "densities.png"]
    for fig in saved["figures"]:
        assert (tmp_path / "c" / fig["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dims = [2, 4, 8, 64]  # the settings' dimensions and the data's, 1x8x8 digits
    assert len(saved["tables"]) == 3 and len(saved["tables"][0]["rows"]) == 3 * len(dims)
    assert (tmp_path / "c" / "runs" / "nsf-moons" / "config.yaml").is_file()
    assert saved["protocol"]["budget"] == "quick" and result.protocol["dims"] == dims
    assert saved["evidence"]["data_dim"] == 64 and saved["protocol"]["dataset"] == "digits"


def test_registered():
    s = get_study("coupling")
    assert s.name == "coupling" and "linearly" in s.claim and s.question
