"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) over any timestep grid.

Each step (t, s) draws ``x_s ~ q(x_s | x_t, x0_hat)``, the forward-process posterior with the
denoiser's estimate in place of x_0 (Ho et al. 2020, eq. 6-7). Over a coarser grid this is
the respaced DDPM of Nichol & Dhariwal 2021, sec. 4: the same posterior between the grid's
non-adjacent times (Kingma et al. 2021, appendix A). ``variance="beta"`` uses the upper bound
``sigma2_{t|s} = 1 - alpha_t^2 / alpha_s^2`` instead (Ho et al. 2020, sec. 3.2). The step to
s = 0 returns x0_hat with no noise.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

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
    variance: Literal["posterior", "beta"] = "posterior",
) -> SampleOutput:
    """x_T (N, ...) -> samples (N, ...) after ``len(timesteps) - 1`` denoiser calls."""
    if variance not in ("posterior", "beta"):
        raise ValueError(f"unknown variance {variance!r}; use 'posterior' or 'beta'")
    grid = check_grid(timesteps, schedule)
    x, steps = x_T, [x_T] if keep_steps else []
    for t, s in pairwise(grid):
        x0_hat = denoiser(x, times_like(t, x))
        if s == 0:
            x = x0_hat
        else:
            tt, ss = torch.tensor(t), torch.tensor(s)
            mean, var = schedule.posterior(x, x0_hat, tt, ss)
            if variance == "beta":
                var = per_example(schedule.transition(tt, ss)[1], x)
            x = mean + var.sqrt() * noise_like(x, generator)
        if keep_steps:
            steps.append(x)
    return SampleOutput(sample=x, steps=steps, nfe=len(grid) - 1)
