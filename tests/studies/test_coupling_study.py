"""The coupling study: exact log-det against the brute-force Jacobian, timing, a tiny run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.ode.likelihood import jacobian_trace
from genlab.studies import coupling as study
from genlab.studies import get_study, run_study
from genlab.studies.checks import Evidence, verdict_of
from genlab.studies.density2d import DensitySettings, density_on_grid, gaussian_nats_per_dim
from genlab.studies.jacobian import LAYERS, brute_logdet, check_logdet, loglog_fit, make_coupling
from genlab.studies.trace_cost import check_hutchinson, make_field, time_trace


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dim", [2, 3, 8, 17])
def test_exact_logdet_agrees_with_brute_force(kind, dim):
    check = check_logdet(kind, dim, examples=2, repeats=1)
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


def test_timing_is_like_for_like():
    check = check_logdet("affine", 16, examples=3, repeats=2)
    assert check.exact_s > 0 and check.brute_s > 0
    assert check.brute_s == pytest.approx(check.jacobian_s + check.slogdet_s)
    assert len(check.log_ratios) == 3  # one paired ratio per example
    geo = math.exp(sum(check.log_ratios) / 3)
    assert check.brute_over_exact == pytest.approx(geo)
    assert check.brute_over_exact_se is not None and check.brute_over_exact_se >= 0
    assert check_logdet("affine", 4, examples=1, repeats=1).brute_over_exact_se is None


def test_loglog_fit_recovers_the_exponent_and_its_error():
    dims = [64, 128, 256, 512]
    cubic = loglog_fit(dims, [3e-9 * d**3 for d in dims])
    assert cubic.p == pytest.approx(3.0) and cubic.se == pytest.approx(0.0, abs=1e-9)
    assert loglog_fit(dims, [1e-6 * d for d in dims]).p == pytest.approx(1.0)
    noisy = loglog_fit(
        dims, [1e-6 * d * f for d, f in zip(dims, [1.3, 0.8, 1.2, 0.9], strict=True)]
    )
    assert 0.8 < noisy.p < 1.2 and 0.01 < noisy.se < 0.5
    assert loglog_fit([64, 128], [1.0, 2.0]).se is None  # two points: no residual


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


def planted(diff=1e-14, exact_p=0.3, gap=1.2, se=0.05, trace_gap=1.0, bias=0.01) -> Evidence:
    """Evidence with exactly the names the checks read: every layer gets the same exact
    exponent and gap (with SE ``se``); the free-form trace's gap over Hutchinson and
    Hutchinson's bias in probe SDs (SE 1/32, 1024 probes)."""
    ev = {"max_abs_logdet_diff_nats": diff, "max_abs_logdet_diff_nats_se": 0.0}
    ev["exact_trace_over_hutchinson_exponent"] = trace_gap
    ev["exact_trace_over_hutchinson_exponent_se"] = se
    ev["hutchinson_abs_bias_in_sd"], ev["hutchinson_abs_bias_in_sd_se"] = bias, 1 / 32
    for k in LAYERS:
        ev[f"exact_cost_exponent_{k}"], ev[f"exact_cost_exponent_{k}_se"] = exact_p, se
        ev[f"brute_minus_exact_exponent_{k}"] = gap
        ev[f"brute_minus_exact_exponent_{k}_se"] = se
    return Evidence(ev)


def test_planted_success_holds():
    found = study.checks(planted())
    assert verdict_of(found) == "holds"
    assert {c.status for c in found.values()} == {"pass"}


@pytest.mark.parametrize(
    ("plant", "failed"),
    [
        ({"diff": 0.05}, "logdet_agrees"),  # a wrong log-det: 0.05 nats off
        ({"exact_p": 2.0}, "exact_cost_linear_affine"),  # a quadratic "exact" cost
        ({"gap": 0.0}, "brute_grows_faster_spline"),  # brute force no steeper than exact
        ({"trace_gap": 0.0}, "free_form_trace_grows_faster"),  # D passes no dearer than one
        ({"bias": 3.0}, "hutchinson_unbiased"),  # a biased estimator
    ],
)
def test_planted_failure_does_not_hold(plant, failed):
    found = study.checks(planted(**plant))
    assert verdict_of(found) == "does not hold"
    assert found[failed].status == "fail"


@pytest.mark.parametrize(
    "plant",
    [
        {"exact_p": 1.25, "se": 0.1},  # within 2 SE of the linear bound
        {"gap": 0.4, "se": 0.2},  # within 2 SE of the gap margin
    ],
)
def test_planted_effect_within_noise_is_undecided(plant):
    found = study.checks(planted(**plant))
    assert verdict_of(found) == "undecided"
    assert "fail" not in {c.status for c in found.values()}


def test_unmeasured_exponent_is_undecided():
    ev = planted()
    ev["brute_minus_exact_exponent_additive_se"] = None  # a fit on two dimensions
    found = study.checks(ev)
    assert found["brute_grows_faster_additive"].status == "undecided"


@pytest.mark.parametrize("name", sorted(planted()))
def test_every_name_the_checks_read_is_required(name):
    ev = planted()
    del ev[name]
    with pytest.raises(KeyError):
        study.checks(ev)


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
    assert saved["verdict"] in ("holds", "does not hold", "undecided")
    assert saved["verdict"] == result.verdict and saved["verdict_text"]
    assert set(saved["checks"]) == set(study.checks(result.evidence))
    for check in saved["checks"].values():
        assert {"effect", "se", "margin", "status"} <= set(check), check
    assert saved["checks"]["logdet_agrees"]["status"] == "pass"
    assert saved["evidence"]["max_abs_logdet_diff_nats"] < 1e-6
    shown = [k for k in saved["evidence"] if k.startswith("brute_over_exact_at_max_dim_")]
    assert len(shown) == 2 * len(LAYERS)  # each ratio with its SE
    for key in [
        "exact_cost_exponent_spline",
        "brute_cost_exponent_affine",
        "test_nats_per_dim_nsf_moons",
        "gaussian_nats_per_dim_moons",
        "min_grid_mass",
    ]:
        assert key in saved["evidence"], key
    assert [f["file"] for f in saved["figures"]] == [
        "logdet_cost.png",
        "trace_cost.png",
        "densities.png",
    ]
    for fig in saved["figures"]:
        assert (tmp_path / "c" / fig["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dims = [2, 4, 8, 64]  # the settings' dimensions and the data's, 1x8x8 digits
    assert len(saved["tables"]) == 4 and len(saved["tables"][0]["rows"]) == 3 * len(dims)
    assert len(saved["tables"][2]["rows"]) == len(dims)
    assert saved["checks"]["hutchinson_unbiased"]["status"] == "pass"
    assert saved["evidence"]["exact_trace_at_data_dim"] == pytest.approx(64, rel=0.05)
    assert (tmp_path / "c" / "runs" / "nsf-moons" / "config.yaml").is_file()
    assert saved["protocol"]["budget"] == "quick" and result.protocol["dims"] == dims
    assert saved["evidence"]["data_dim"] == 64 and saved["protocol"]["dataset"] == "digits"


def test_hutchinson_is_unbiased_and_a_scaled_probe_is_caught():
    """Against the exact trace (D backward passes), at D = 64: 1024 Rademacher probes land
    within a quarter of one probe's SD; probes scaled by 2 (a planted bug) land 3 traces off."""
    ok, bad = check_hutchinson(64), check_hutchinson(64, scale=2.0)
    assert abs(ok.mean - ok.exact) < 0.25 * ok.sd and ok.sd > 0
    assert bad.exact == ok.exact and abs(bad.mean - bad.exact) > 100 * bad.sd


def test_exact_trace_is_the_trace_of_the_autograd_jacobian():
    field = make_field(6)
    x = torch.randn(1, 6, dtype=torch.float64)
    t = torch.full((1,), 500.0, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: field(v[None], t)[0], x[0])
    xg = x.clone().requires_grad_(True)
    assert float(jacobian_trace(field(xg, t), xg, None)) == pytest.approx(float(jac.trace()))
    assert not torch.allclose(jac, torch.eye(6, dtype=torch.float64))  # not the identity


def test_trace_timing_is_like_for_like():
    c = time_trace(16, examples=2, repeats=1)
    assert c.dim == 16 and len(c.log_ratios) == 2
    assert 0 < c.forward_s and 0 < c.hutchinson_s and 0 < c.exact_s


def test_registered():
    s = get_study("coupling")
    assert s.name == "coupling" and "linearly" in s.claim and s.question
