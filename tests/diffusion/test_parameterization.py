"""eps / x0 / v predictions (Salimans & Ho 2022) and min-SNR weights (Hang et al. 2023)
checked in float64: exact round trips, v as the derivative of x_t along the circle
alpha = cos(phi), sigma = sin(phi), and the weights against their definition (every kind's
weighted loss equals min(snr, gamma) times the x0 loss)."""

from __future__ import annotations

import pytest
import torch

from genlab.diffusion.parameterization import (
    PREDICTIONS,
    eps_from,
    min_snr_weight,
    target,
    v_from,
    x0_from,
)


def draw(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """x0, eps (n, 3, 4, 4), phi (n, 1, 1, 1) in (0, pi/2), alpha = cos phi, sigma = sin phi."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 3, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(n, 3, 4, 4, generator=g, dtype=torch.float64)
    phi = 0.01 + 1.55 * torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64)
    return x0, eps, phi, torch.cos(phi), torch.sin(phi)


@pytest.mark.parametrize("kind", PREDICTIONS)
def test_round_trips_are_exact(kind):
    x0, eps, _, alpha, sigma = draw()
    x_t = alpha * x0 + sigma * eps
    pred = target(kind, x0, eps, alpha, sigma)
    torch.testing.assert_close(x0_from(kind, pred, x_t, alpha, sigma), x0, rtol=0, atol=1e-12)
    torch.testing.assert_close(eps_from(kind, pred, x_t, alpha, sigma), eps, rtol=0, atol=1e-12)
    # from any kind's estimate, the other kinds' targets are recovered too
    for other in PREDICTIONS:
        x0_hat = x0_from(kind, pred, x_t, alpha, sigma)
        eps_hat = eps_from(kind, pred, x_t, alpha, sigma)
        ref = target(other, x0, eps, alpha, sigma)
        torch.testing.assert_close(
            target(other, x0_hat, eps_hat, alpha, sigma), ref, rtol=0, atol=1e-12
        )


def test_v_is_the_velocity_along_the_circle():
    """x_t(phi) = cos(phi) x0 + sin(phi) eps  =>  dx_t/dphi = v (Salimans & Ho 2022, sec. 4)."""
    x0, eps, phi, alpha, sigma = draw()
    _, dx = torch.autograd.functional.jvp(
        lambda p: torch.cos(p) * x0 + torch.sin(p) * eps, (phi,), (torch.ones_like(phi),)
    )
    torch.testing.assert_close(v_from(x0, eps, alpha, sigma), dx, rtol=0, atol=1e-12)
    # and v = (alpha x_t - x0) / sigma, an identity independent of the conversion code
    x_t = alpha * x0 + sigma * eps
    torch.testing.assert_close(v_from(x0, eps, alpha, sigma), (alpha * x_t - x0) / sigma)


def test_targets_are_what_each_kind_predicts():
    x0, eps, _, alpha, sigma = draw()
    assert target("eps", x0, eps, alpha, sigma) is eps
    assert target("x0", x0, eps, alpha, sigma) is x0
    torch.testing.assert_close(target("v", x0, eps, alpha, sigma), alpha * eps - sigma * x0)


def test_float32_inputs_stay_float32():
    x0, eps, _, alpha, sigma = draw()
    x0, eps = x0.float(), eps.float()
    x_t = (alpha * x0 + sigma * eps).float()
    for kind in PREDICTIONS:
        pred = target(kind, x0, eps, alpha, sigma)
        assert pred.dtype == torch.float32
        assert x0_from(kind, pred, x_t, alpha, sigma).dtype == torch.float32
        assert eps_from(kind, pred, x_t, alpha, sigma).dtype == torch.float32


@pytest.mark.parametrize("gamma", [0.5, 5.0])
def test_min_snr_weights_equalise_to_the_x0_loss(gamma):
    """An x0 estimate off by e has eps and v estimates off by the matching amounts; the
    weighted MSE of every kind must equal min(snr, gamma) * MSE(x0) (Hang et al. 2023)."""
    x0, eps, _, alpha, sigma = draw()
    x_t = alpha * x0 + sigma * eps
    x0_hat = x0 + 0.1 * torch.randn_like(x0)
    eps_hat = eps_from("x0", x0_hat, x_t, alpha, sigma)
    snr = (alpha / sigma).square().flatten()
    assert snr.min() < gamma < snr.max()
    mse = lambda a, b: (a - b).square().mean(dim=(1, 2, 3))  # noqa: E731
    ref = torch.clamp(snr, max=gamma) * mse(x0_hat, x0)
    for kind in PREDICTIONS:
        err = mse(target(kind, x0_hat, eps_hat, alpha, sigma), target(kind, x0, eps, alpha, sigma))
        torch.testing.assert_close(min_snr_weight(kind, snr, gamma) * err, ref)


def test_min_snr_weights_by_formula():
    snr = torch.tensor([0.01, 1.0, 4.9, 5.0, 100.0], dtype=torch.float64)
    m = torch.minimum(snr, torch.tensor(5.0))
    torch.testing.assert_close(min_snr_weight("x0", snr, 5.0), m)
    torch.testing.assert_close(min_snr_weight("eps", snr, 5.0), m / snr)
    torch.testing.assert_close(min_snr_weight("v", snr, 5.0), m / (snr + 1))


def test_unknown_prediction_raises():
    x0, eps, _, alpha, sigma = draw(2)
    with pytest.raises(ValueError, match="unknown prediction"):
        target("score", x0, eps, alpha, sigma)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown prediction"):
        x0_from("score", x0, eps, alpha, sigma)  # type: ignore[arg-type]
