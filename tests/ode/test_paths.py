"""Affine paths: boundary values, derivatives against finite differences, and the
velocity / x_0 conversions as inverses of each other and of the path's own definition."""

from __future__ import annotations

import pytest
import torch

from genlab.ode.paths import AffinePath, eps_from_x0, velocity_from_x0, x0_from_velocity


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_boundaries_and_derivatives(kind):
    path = AffinePath(kind)
    ends = path.at(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(ends.alpha, torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ends.sigma, torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-12)
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    h = 1e-6
    k, up, down = path.at(t), path.at(t + h), path.at(t - h)
    assert torch.allclose(k.d_alpha, (up.alpha - down.alpha) / (2 * h), atol=1e-7)
    assert torch.allclose(k.d_sigma, (up.sigma - down.sigma) / (2 * h), atol=1e-7)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_conversions_recover_x0_eps_and_the_conditional_velocity(kind):
    g = torch.Generator().manual_seed(0)
    x0, eps = (
        torch.randn(6, 3, generator=g, dtype=torch.float64),
        torch.randn(6, 3, generator=g, dtype=torch.float64),
    )
    t = torch.rand(6, generator=g, dtype=torch.float64) * 0.9 + 0.05
    k = AffinePath(kind).at(t)
    x = k.alpha[:, None] * x0 + k.sigma[:, None] * eps
    v = k.d_alpha[:, None] * x0 + k.d_sigma[:, None] * eps
    assert torch.allclose(x0_from_velocity(x, v, k), x0, atol=1e-10)
    assert torch.allclose(velocity_from_x0(x, x0, k), v, atol=1e-10)
    assert torch.allclose(eps_from_x0(x, x0, k), eps, atol=1e-10)


def test_unknown_path_is_refused():
    with pytest.raises(ValueError, match="unknown path"):
        AffinePath("vp")  # type: ignore[arg-type]
