"""Samplers that step in x_0-prediction form over any Gaussian path: DDIM (eta = 0) and
DPM-Solver++(2M), given the path's ``alpha`` and ``sigma`` at the grid points.

Both integrate the probability-flow ODE exactly in its linear part (an exponential
integrator) and approximate only x0_hat(x_t, t) between grid points, which is why they
need fewer evaluations than Euler on the same model. They serve the discrete-time
diffusion model (its schedule at integer timesteps) and the flow-matching model (its path
at float times, x0_hat from the velocity, ``paths.x0_from_velocity``) alike.

With ``lambda = log(alpha / sigma)``, ``h_i = lambda_i - lambda_{i-1} > 0`` and ``x0_i``
the estimate at grid point i, DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) steps

    x_i = sigma_i / sigma_{i-1} x_{i-1} - alpha_i (e^{-h_i} - 1) D_i,
    D_i = (1 + 1 / (2 r_i)) x0_{i-1} - 1 / (2 r_i) x0_{i-2},   r_i = h_{i-1} / h_i,

first order at the first step (which is DDIM with eta = 0: ``x_i = alpha_i x0 + sigma_i
eps_hat``) and at a last point with sigma = 0, where it returns x0_hat. A start with
alpha = 0 (the linear path at t = 1) has lambda = -inf: h = inf makes the first step DDIM's
and r = inf drops the correction at the next, as the limits say.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.ode.paths import as_column

__all__ = ["X0AtPoint", "ddim", "dpmpp_2m"]

# (x (N, ...), grid index i) -> x0_hat (N, ...) at grid point i
X0AtPoint = Callable[[Tensor, int], Tensor]


def _check(alpha: Tensor, sigma: Tensor) -> None:
    assert alpha.shape == sigma.shape and alpha.dim() == 1 and len(alpha) >= 2, (
        tuple(alpha.shape),
        tuple(sigma.shape),
    )


def ddim(
    x0_at: X0AtPoint, alpha: Tensor, sigma: Tensor, x: Tensor, *, keep_steps: bool = False
) -> tuple[Tensor, list[Tensor]]:
    """Deterministic DDIM (Song et al. 2021, eq. 12 with eta = 0) over the K + 1 grid
    points whose path coefficients are ``alpha``, ``sigma`` (K + 1,) float64: K calls.
    Returns the last x and, when kept, x at every grid point."""
    _check(alpha, sigma)
    steps = [x] if keep_steps else []
    for i in range(1, len(alpha)):
        x0 = x0_at(x, i - 1)
        if float(sigma[i]) == 0.0:
            x = x0
        else:
            c_x = sigma[i] / sigma[i - 1]
            x = as_column(c_x, x) * x + as_column(alpha[i] - c_x * alpha[i - 1], x) * x0
        if keep_steps:
            steps.append(x)
    return x, steps


def dpmpp_2m(
    x0_at: X0AtPoint, alpha: Tensor, sigma: Tensor, x: Tensor, *, keep_steps: bool = False
) -> tuple[Tensor, list[Tensor]]:
    """DPM-Solver++(2M) over the K + 1 grid points (module docstring): K calls, no
    randomness. Returns the last x and, when kept, x at every grid point."""
    _check(alpha, sigma)
    lam = torch.log(alpha) - torch.log(sigma)  # float64, -inf where alpha = 0
    steps = [x] if keep_steps else []
    prev: Tensor | None = None  # x0_hat at the grid point before the current one
    for i in range(1, len(alpha)):
        x0 = x0_at(x, i - 1)
        if float(sigma[i]) == 0.0:
            x = x0
        else:
            h = lam[i] - lam[i - 1]
            d = x0
            if prev is not None:
                r = (lam[i - 1] - lam[i - 2]) / h
                d = x0 + as_column(1 / (2 * r), x) * (x0 - prev)
            x = (
                as_column(sigma[i] / sigma[i - 1], x) * x
                - as_column(alpha[i] * torch.expm1(-h), x) * d
            )
        prev = x0
        if keep_steps:
            steps.append(x)
    return x, steps
