"""Rational-quadratic spline (Durkan et al. 2019) checked in float64: monotone knots and
map, identity tails, continuous derivative at the bound, inverse, and logabsdet against
a finite-difference derivative."""

from __future__ import annotations

import pytest
import torch

from genlab.flows.transforms.splines import (
    MIN_BIN_WIDTH,
    knot_derivatives,
    knot_positions,
    rq_spline,
)

K, B = 5, 2.0


def params(n: int, seed: int = 0, scale: float = 2.0) -> tuple[torch.Tensor, ...]:
    """Random unconstrained (widths, heights, derivatives) for n elements."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda *s: scale * torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return draw(n, K), draw(n, K), draw(n, K - 1)


def one_spline_on(x: torch.Tensor, seed: int = 0, **kw: object):
    """The same random spline applied to every element of x (1-D)."""
    w, h, d = (p.expand(x.shape[0], -1) for p in params(1, seed))
    return rq_spline(x, w, h, d, bound=B, **kw)


def test_knots_are_increasing_and_span_the_interval():
    w, _, d = params(100)
    knots = knot_positions(w, B)
    assert knots.shape == (100, K + 1)
    assert torch.all(knots[:, 0] == -B) and torch.all(knots[:, -1] == B)
    assert torch.all(knots.diff(dim=-1) >= 2 * B * MIN_BIN_WIDTH * (1 - 1e-9))
    deriv = knot_derivatives(d)
    assert deriv.shape == (100, K + 1) and torch.all(deriv > 0)
    assert torch.all(deriv[:, 0] == 1) and torch.all(deriv[:, -1] == 1)


@pytest.mark.parametrize("seed", range(4))
def test_spline_is_monotone_increasing_on_a_dense_grid(seed: int):
    x = torch.linspace(-B - 1, B + 1, 20001, dtype=torch.float64)
    y, lad = one_spline_on(x, seed)
    assert torch.all(y.diff() > 0)
    assert torch.isfinite(lad).all()


def test_identity_outside_the_bound():
    x = torch.cat([torch.linspace(-9, -B - 1e-9, 50), torch.linspace(B + 1e-9, 9, 50)]).double()
    w, h, d = params(100)
    y, lad = rq_spline(x, w, h, d, bound=B)
    assert torch.equal(y, x) and torch.equal(lad, torch.zeros_like(x))
    back, lad_inv = rq_spline(x, w, h, d, bound=B, inverse=True)
    assert torch.equal(back, x) and torch.equal(lad_inv, torch.zeros_like(x))


def test_knots_map_to_knots_and_derivative_is_continuous_at_the_bound():
    w, h, d = params(1)
    xk = knot_positions(w, B)[0]
    yk = knot_positions(h, B)[0]
    y, lad = rq_spline(xk, *(p.expand(K + 1, -1) for p in (w, h, d)), bound=B)
    torch.testing.assert_close(y, yk, atol=1e-12, rtol=0)
    torch.testing.assert_close(lad.exp(), knot_derivatives(d)[0], atol=1e-9, rtol=1e-9)
    # just inside and just outside each end: slope 1 on both sides
    eps = 1e-10
    edges = torch.tensor([-B - eps, -B + eps, B - eps, B + eps], dtype=torch.float64)
    _, lad_edges = one_spline_on(edges)
    torch.testing.assert_close(lad_edges, torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)


def test_inverse_recovers_input_to_1e_6():
    n = 4000
    g = torch.Generator().manual_seed(1)
    x = (B + 0.5) * (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1)
    w, h, d = params(n, seed=2, scale=3.0)
    y, lad = rq_spline(x, w, h, d, bound=B)
    x_back, lad_inv = rq_spline(y, w, h, d, bound=B, inverse=True)
    assert (x_back - x).abs().max() < 1e-6
    torch.testing.assert_close(lad_inv, -lad, atol=1e-6, rtol=0)


def test_logabsdet_matches_finite_difference():
    x = torch.linspace(-B + 1e-3, B - 1e-3, 997, dtype=torch.float64)
    step = 1e-6
    _, lad = one_spline_on(x, seed=3)
    y_plus, _ = one_spline_on(x + step, seed=3)
    y_minus, _ = one_spline_on(x - step, seed=3)
    fd = (y_plus - y_minus) / (2 * step)
    torch.testing.assert_close(lad, fd.log(), atol=1e-5, rtol=0)


def test_zero_parameters_give_the_identity():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    zeros = lambda k: torch.zeros(101, k, dtype=torch.float64)  # noqa: E731
    y, lad = rq_spline(x, zeros(K), zeros(K), zeros(K - 1), bound=B)
    torch.testing.assert_close(y, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(lad, torch.zeros_like(x), atol=1e-12, rtol=0)


def test_gradients_are_finite_inside_and_outside():
    x = torch.linspace(-B - 1, B + 1, 301, dtype=torch.float64)
    w, h, d = (p.requires_grad_(True) for p in params(301))
    for inverse in (False, True):
        y, lad = rq_spline(x, w, h, d, bound=B, inverse=inverse)
        (y.sum() + lad.sum()).backward()
    for p in (w, h, d):
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_gradient_at_the_bound_and_at_every_knot(dtype):
    """y exactly at a knot or at the upper bound: the root of the inverse's quadratic can
    round an ulp outside [0, 1]; dx/dy must still be the slope there (1 at the bound,
    1 / derivative at an interior knot), not the zero a plain clamp gives."""
    n = 64  # random splines, every knot of each
    w, h, d = (p.to(dtype) for p in params(n, seed=5, scale=2.0))
    yk = knot_positions(h, B)  # (n, K + 1), in dtype
    slopes = torch.cat([torch.ones(n, 1, dtype=dtype), knot_derivatives(d)[:, 1:-1]], 1)
    slopes = torch.cat([slopes, torch.ones(n, 1, dtype=dtype)], 1)  # (n, K + 1)
    y = yk.detach().clone().requires_grad_(True)
    expand = lambda p: p[:, None].expand(n, K + 1, -1)  # noqa: E731
    x, lad = rq_spline(y, expand(w), expand(h), expand(d), bound=B, inverse=True)
    (dx_dy,) = torch.autograd.grad(x.sum(), y)
    tol = 1e-2 if dtype == torch.float32 else 1e-9  # float32: cancellation near xi = 1
    torch.testing.assert_close(dx_dy, 1 / slopes, atol=tol, rtol=tol)
    torch.testing.assert_close(lad.exp(), 1 / slopes, atol=tol, rtol=tol)
    assert (dx_dy > 0).all()
