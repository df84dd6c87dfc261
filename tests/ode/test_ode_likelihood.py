"""The ODE log-likelihood against closed forms: an affine path on Gaussian data, whose
marginal log-density is known at every t, recovered by the exact divergence and (in mean)
by Hutchinson's estimator, whose spread shrinks as 1/sqrt(probes); the dequantized bound
against the exact probability of a bin."""

from __future__ import annotations

import math

import pytest
import torch

import ode_gaussian as gaussian
from genlab.ode.likelihood import dequantized_nll, log_density
from genlab.ode.paths import AffinePath


def points(n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return gaussian.MU + gaussian.S * torch.randn(n, 3, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t_min", [0.0, 0.1])
def test_exact_divergence_recovers_the_gaussian_log_density(kind, t_min):
    path = AffinePath(kind)
    x = points()
    dens = log_density(
        gaussian.velocity(path), x, t_min=t_min, divergence="exact", rtol=1e-8, atol=1e-8
    )
    truth = gaussian.log_density(x, t_min, path)
    assert torch.allclose(dens.log_p, truth, atol=1e-5), (dens.log_p - truth).abs().max()
    assert dens.nfe > 0


def test_a_wrong_velocity_is_caught():
    """Planted: the velocity of another Gaussian gives log-densities off by far more than
    the tolerance above."""
    path = AffinePath("linear")
    x = points()
    truth = gaussian.log_density(x, 0.0, path)
    wrong = gaussian.velocity(path)
    dens = log_density(lambda y, t: 1.2 * wrong(y, t), x, divergence="exact", rtol=1e-8, atol=1e-8)
    assert (dens.log_p - truth).abs().max() > 1e-2


def test_hutchinson_is_unbiased_and_its_spread_falls_as_one_over_sqrt_probes():
    path = AffinePath("linear")
    x = (points(1) @ gaussian.R.T).expand(400, 3).contiguous()  # 400 probe draws, one point
    truth = float(gaussian.rotated_log_density(x[:1], 0.0, path))
    sds = {}
    for probes in (1, 16):
        g = torch.Generator().manual_seed(probes)
        field = gaussian.rotated_velocity(path)
        dens = log_density(field, x, method="rk4", steps=40, probes=probes, generator=g)
        mean, sd = float(dens.log_p.mean()), float(dens.log_p.std())
        assert abs(mean - truth) < 3 * sd / math.sqrt(len(x)) + 1e-3, (probes, mean, truth, sd)
        sds[probes] = sd
    assert 2.5 < sds[1] / sds[16] < 6.5, sds  # sqrt(16) = 4


def test_dequantized_bound_brackets_the_exact_bin_probability_and_tightens_with_draws():
    """1-D Gaussian data N(0.2, 0.3^2) binned with width 0.5: P(bin) is a difference of
    normal CDFs. The one-draw bound lies above -log P in mean, the 64-draw one closer."""
    mu, s, w = 0.2, 0.3, 0.5

    def field(x, t):  # the linear path's exact velocity for this 1-D Gaussian
        a, sg = (1 - t)[:, None].to(x), t[:, None].to(x)
        var = a**2 * s**2 + sg**2
        return -(mu + a * s**2 / var * (x - a * mu)) + sg / var * (x - a * mu)

    centres = torch.full((200, 1), 0.0, dtype=torch.float64)
    normal = torch.distributions.Normal(mu, s)
    exact = -math.log(float(normal.cdf(torch.tensor(w / 2)) - normal.cdf(torch.tensor(-w / 2))))
    bounds = {}
    for k in (1, 64):
        g = torch.Generator().manual_seed(k)
        nll, _ = dequantized_nll(
            field, centres, w, draws=k, generator=g, divergence="exact", rtol=1e-7, atol=1e-7
        )
        bounds[k] = float(nll.mean())
        assert bounds[k] >= exact - 3 * float(nll.std()) / math.sqrt(len(nll)) - 1e-6
    assert bounds[1] > bounds[64] and bounds[64] - exact < 0.01, (bounds, exact)


def test_fixed_grid_spacing_places_the_steps_and_converges():
    """Euler evaluates the field once at the start of each step: at t_min + (1 - t_min)
    (i / steps)^spacing; RK4 on that grid recovers the closed form; spacing <= 0 refused."""
    seen: list[float] = []

    def recording(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(float(t.flatten()[0]))
        return gaussian.velocity(AffinePath("linear"))(x, t)

    x = points()
    log_density(recording, x, t_min=0.1, method="euler", steps=4, spacing=2.0, divergence="exact")
    want = [0.1 + 0.9 * (i / 4) ** 2 for i in range(4)]
    assert seen == pytest.approx(want, abs=1e-12)

    path = AffinePath("linear")
    truth = gaussian.log_density(x, 0.0, path)
    errors = [
        float(
            (
                log_density(
                    gaussian.velocity(path),
                    x,
                    method="rk4",
                    steps=n,
                    spacing=2.0,
                    divergence="exact",
                ).log_p
                - truth
            )
            .abs()
            .max()
        )
        for n in (4, 16)
    ]
    assert errors[1] < 1e-4 and errors[1] < errors[0] / 100, errors  # 4th order: 4^4 = 256
    with pytest.raises(ValueError, match="spacing"):
        log_density(gaussian.velocity(path), x, method="rk4", steps=4, spacing=0.0)
