"""DDIM sampling (Song et al. 2021, eq. 12) over any timestep grid.

With ``eps_hat = (x_t - alpha_t x0_hat) / sigma_t`` each step (t, s) is

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,   c = eta sqrt(v_{s|t}),

where ``v_{s|t} = sigma2_{t|s} sigma_s^2 / sigma_t^2`` is the variance of the forward posterior
q(x_s | x_t, x_0) (eq. 16 of the paper). eta = 0 is the deterministic DDIM (a first-order
solver of the probability-flow ODE); eta = 1 has the mean and variance of the ancestral
(DDPM) step and, with the same generator, draws the same sample.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from genlab.diffusion.samplers.base import (
    Denoiser,
    SampleOutput,
    check_grid,
    noise_like,
    times_like,
)
from genlab.diffusion.schedule import NoiseSchedule, per_example

__all__ = ["sample"]


def sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    keep_steps: bool = False,
    eta: float = 0.0,
) -> SampleOutput:
    """x_T (N, ...) -> samples (N, ...) after ``len(timesteps) - 1`` denoiser calls; the
    generator is used only when eta > 0."""
    if eta < 0:
        raise ValueError(f"DDIM eta must be >= 0, got {eta}")
    grid = check_grid(timesteps, schedule)
    x, steps = x_T, [x_T] if keep_steps else []
    for t, s in pairwise(grid):
        x0_hat = denoiser(x, times_like(t, x))
        tt, ss = torch.tensor(t), torch.tensor(s)
        alpha_t, sigma_t = schedule.alpha(tt), schedule.sigma(tt)
        alpha_s, sigma_s = schedule.alpha(ss), schedule.sigma(ss)
        c2 = eta**2 * schedule.transition(tt, ss)[1] * sigma_s**2 / sigma_t**2
        # eps_hat's coefficient folded into x_t's and x0_hat's (float64 until the cast)
        c_eps = (sigma_s**2 - c2).clamp_min(0).sqrt() / sigma_t
        x_new = per_example(c_eps, x) * x + per_example(alpha_s - c_eps * alpha_t, x) * x0_hat
        if eta > 0 and s > 0:
            x_new = x_new + per_example(c2.sqrt(), x) * noise_like(x, generator)
        x = x_new
        if keep_steps:
            steps.append(x)
    return SampleOutput(sample=x, steps=steps, nfe=len(grid) - 1)
