"""Affine probability paths from data (t = 0) to noise (t = 1), and the conversions between
the velocity, x_0 and eps that every continuous-time model and sampler shares.

A path is ``x_t = alpha_t x_0 + sigma_t eps`` with ``eps ~ N(0, I)``, ``t in [0, 1]``,
``(alpha_0, sigma_0) = (1, 0)`` (the data) and ``(alpha_1, sigma_1) = (0, 1)`` (the prior).
Its conditional velocity is ``d x_t / dt = alpha'_t x_0 + sigma'_t eps``; the marginal
velocity ``v(x, t) = E[alpha' x_0 + sigma' eps | x_t = x]`` is what flow matching regresses
(Lipman et al. 2023, eq. 9 and Theorem 2; Liu et al. 2022 for the linear path) and it is
also the probability-flow ODE of the Gaussian diffusion with the same (alpha, sigma)
(Song et al. 2021, eq. 13), so one ODE module serves both families.

Convention, stated once: **t = 0 is data, t = 1 is noise**, sampling integrates from 1 to 0.
diffusers' flow-match schedulers use the same direction (their sigma is our t), torchcfm
and facebookresearch/flow_matching the opposite (t' = 1 - t, velocity -v).

- ``linear`` (conditional OT / rectified flow): ``alpha = 1 - t``, ``sigma = t``,
  velocity target ``eps - x_0``;
- ``cosine`` (variance preserving): ``alpha = cos(pi t / 2)``, ``sigma = sin(pi t / 2)``,
  velocity target ``pi / 2 (cos(pi t / 2) eps - sin(pi t / 2) x_0)``: the diffusion
  models' v-target times pi / 2.

Coefficients are float64; functions acting on a tensor cast them to its dtype last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

__all__ = [
    "AffinePath",
    "Coefficients",
    "PathKind",
    "ProbabilityPath",
    "as_column",
    "eps_from_x0",
    "velocity_from_x0",
    "x0_from_velocity",
]

PathKind = Literal["linear", "cosine"]


@dataclass(frozen=True)
class Coefficients:
    """``alpha, sigma, d_alpha, d_sigma`` at some times, float64, each shaped like t."""

    alpha: Tensor
    sigma: Tensor
    d_alpha: Tensor
    d_sigma: Tensor


class ProbabilityPath(Protocol):
    """Anything that gives the affine coefficients at float times t in [0, 1]."""

    def at(self, t: Tensor) -> Coefficients: ...


@dataclass(frozen=True)
class AffinePath:
    """``AffinePath("linear" | "cosine")``: stateless, see the module docstring."""

    kind: PathKind = "linear"

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "cosine"):
            raise ValueError(f"unknown path {self.kind!r}; use 'linear' or 'cosine'")

    def at(self, t: Tensor) -> Coefficients:
        """Coefficients at times t (any shape), float64."""
        t = torch.as_tensor(t).to(torch.float64)
        if self.kind == "linear":
            one = torch.ones_like(t)
            return Coefficients(1 - t, t.clone(), -one, one)
        half_pi = math.pi / 2
        c, s = torch.cos(half_pi * t), torch.sin(half_pi * t)
        return Coefficients(c, s, -half_pi * s, half_pi * c)


def as_column(c: Tensor, x: Tensor) -> Tensor:
    """A coefficient (N,) or () -> broadcastable to x (N, ...), on x's device and dtype."""
    c = c.to(device=x.device, dtype=x.dtype)
    return c if c.dim() == 0 else c.reshape(c.shape + (1,) * (x.dim() - c.dim()))


def velocity_from_x0(x: Tensor, x0: Tensor, k: Coefficients) -> Tensor:
    """The velocity (N, ...) at x_t = x given the x_0 estimate: with ``eps = (x - alpha
    x0) / sigma``, ``v = alpha' x0 + sigma' eps`` (needs sigma > 0)."""
    a, s = as_column(k.alpha, x), as_column(k.sigma, x)
    return as_column(k.d_alpha, x) * x0 + as_column(k.d_sigma, x) * (x - a * x0) / s


def x0_from_velocity(x: Tensor, v: Tensor, k: Coefficients) -> Tensor:
    """x_0 (N, ...) from the velocity at x_t = x: solving ``x = alpha x0 + sigma eps`` and
    ``v = alpha' x0 + sigma' eps`` gives ``x0 = (sigma' x - sigma v) / (sigma' alpha -
    sigma alpha')``; the denominator is 1 (linear) or pi / 2 (cosine), never 0."""
    det = k.d_sigma * k.alpha - k.sigma * k.d_alpha
    return (as_column(k.d_sigma / det, x) * x) - as_column(k.sigma / det, x) * v


def eps_from_x0(x: Tensor, x0: Tensor, k: Coefficients) -> Tensor:
    """eps (N, ...) = (x - alpha x0) / sigma (needs sigma > 0)."""
    return (x - as_column(k.alpha, x) * x0) / as_column(k.sigma, x)
