"""Monotone rational-quadratic splines and the spline coupling layer (Neural Spline
Flows, Durkan et al. 2019).

On [-B, B] the spline passes through K + 1 knots (x_k, y_k) with positive derivatives
d_k; in bin k, with w_k = x_{k+1} - x_k, h_k = y_{k+1} - y_k, s_k = h_k / w_k and
xi = (x - x_k) / w_k in [0, 1] (eqs. 4-6 of the paper):

    y      = y_k + h_k [s_k xi^2 + d_k xi (1 - xi)] / [s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)]
    dy/dx  = s_k^2 [d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2]
             / [s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)]^2

The inverse solves the quadratic a xi^2 + b xi + c = 0 for xi by the numerically stable
root 2c / (-b - sqrt(b^2 - 4ac)) (appendix A). Outside [-B, B] the map is the identity
("linear tails"), and the boundary derivatives d_0 = d_K = 1 make the derivative
continuous there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.flows.transforms.base import sum_per_example
from genlab.flows.transforms.coupling import MaskedCoupling

__all__ = [
    "MIN_BIN_HEIGHT",
    "MIN_BIN_WIDTH",
    "MIN_DERIVATIVE",
    "SplineCoupling",
    "knot_derivatives",
    "knot_positions",
    "rq_spline",
]

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(_DERIVATIVE_SHIFT) = 1 - MIN_DERIVATIVE: zero parameters give derivative 1
_DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def knot_positions(
    unnormalized: torch.Tensor, bound: float, min_size: float = MIN_BIN_WIDTH
) -> torch.Tensor:
    """(..., K) unconstrained bin sizes -> (..., K + 1) increasing knots from -B to B.

    Sizes are ``min_size + (1 - K min_size) softmax(u)`` of the interval 2B, so every
    bin is at least ``2 B min_size`` wide; zero input gives K equal bins."""
    k = unnormalized.shape[-1]
    assert min_size * k < 1.0, f"min bin size {min_size} too large for {k} bins"
    sizes = min_size + (1.0 - min_size * k) * torch.softmax(unnormalized, dim=-1)
    # interior knots from the cumulative sizes; the ends are exactly 0 and 1 (then -B, B)
    inner = torch.cumsum(sizes[..., :-1], dim=-1)
    knots = F.pad(F.pad(inner, (1, 0), value=0.0), (0, 1), value=1.0)
    return 2.0 * bound * knots - bound


def knot_derivatives(unnormalized: torch.Tensor) -> torch.Tensor:
    """(..., K - 1) unconstrained interior derivatives -> (..., K + 1) positive
    derivatives ``MIN_DERIVATIVE + softplus(u + shift)``, the two boundary ones fixed to 1
    (matching the identity tails). Zero input gives all derivatives 1."""
    inner = MIN_DERIVATIVE + F.softplus(unnormalized + _DERIVATIVE_SHIFT)
    return F.pad(inner, (1, 1), value=1.0)


def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return t.gather(-1, idx[..., None]).squeeze(-1)


def rq_spline(
    x: torch.Tensor,
    widths: torch.Tensor,
    heights: torch.Tensor,
    derivatives: torch.Tensor,
    *,
    bound: float,
    inverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise monotone rational-quadratic spline on [-B, B], identity outside.

    ``x`` (...); unconstrained ``widths`` and ``heights`` (..., K), ``derivatives``
    (..., K - 1) for the interior knots. Returns ``(y, logabsdet)``, both (...), where
    ``logabsdet = log |dy/dx|`` of the direction computed (``inverse=True`` maps y -> x
    and returns ``log |dx/dy|``). Zero parameters give the identity.
    """
    xk = knot_positions(widths, bound, MIN_BIN_WIDTH)  # (..., K+1)
    yk = knot_positions(heights, bound, MIN_BIN_HEIGHT)
    dk = knot_derivatives(derivatives)
    inside = (x >= -bound) & (x <= bound)
    z = x.clamp(-bound, bound)  # keeps every branch finite; outside is masked below
    search = yk if inverse else xk
    idx = (z[..., None] >= search[..., 1:-1]).sum(dim=-1)  # bin index in 0..K-1
    x0, y0 = _take(xk, idx), _take(yk, idx)
    w, h = _take(xk, idx + 1) - x0, _take(yk, idx + 1) - y0
    d0, d1 = _take(dk, idx), _take(dk, idx + 1)
    s = h / w
    if inverse:
        dy = z - y0
        a = dy * (d1 + d0 - 2 * s) + h * (s - d0)
        b = h * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b.square() - 4 * a * c).clamp_min(0.0)
        root = 2 * c / (-b - disc.sqrt())
        # rounding can put the root an ulp outside [0, 1] (y at the bound or at a knot):
        # clamp its value only, so the gradient still flows (a plain clamp zeroes it)
        xi = root + (root.clamp(0.0, 1.0) - root).detach()
        out = x0 + xi * w
    else:
        xi = (z - x0) / w
        num = h * (s * xi.square() + d0 * xi * (1 - xi))
        out = y0 + num / (s + (d1 + d0 - 2 * s) * xi * (1 - xi))
    one_minus = 1 - xi
    denom = s + (d1 + d0 - 2 * s) * xi * one_minus
    deriv = s.square() * (d1 * xi.square() + 2 * s * xi * one_minus + d0 * one_minus.square())
    logabsdet = torch.log(deriv) - 2 * torch.log(denom)
    if inverse:
        logabsdet = -logabsdet
    y = torch.where(inside, out, x)
    return y, torch.where(inside, logabsdet, torch.zeros_like(logabsdet))


class SplineCoupling(MaskedCoupling):
    """Rational-quadratic spline coupling (Durkan et al. 2019, sec. 3.1-3.2).

    The conditioner outputs ``3K - 1`` parameters per element, laid out along dim 1 as
    (N, F * (3K - 1), ...) = F blocks of ``(K widths, K heights, K - 1 derivatives)``,
    for vectors (N, Df) and channel-split images (N, Cf, H, W) (F: the free features or
    channels) or blended images (N, C, H, W) (F = C).
    Only the transformed (mask 0) elements are mapped; the logdet sums their
    ``log |dy/dx|``.
    """

    def __init__(
        self, mask: torch.Tensor, conditioner: nn.Module, *, bins: int = 8, bound: float = 3.0
    ) -> None:
        super().__init__(mask, conditioner)
        assert bins >= 1 and bound > 0, (bins, bound)
        self.bins, self.bound = int(bins), float(bound)

    def couple(
        self, x: torch.Tensor, params: torch.Tensor, inverse: bool, free: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.bins
        n, f = x.shape[:2]
        p = params.reshape(n, f, 3 * k - 1, *x.shape[2:]).movedim(2, -1)  # (N, F, ..., 3K-1)
        y, lad = rq_spline(
            x, p[..., :k], p[..., k : 2 * k], p[..., 2 * k :], bound=self.bound, inverse=inverse
        )
        if free is None:
            return y, sum_per_example(lad)
        return torch.where(free > 0, y, x), sum_per_example(lad * free)
