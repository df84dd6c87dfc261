"""The one-step baseline: ``x0_hat = E[x_0 | x_T]`` from a single denoiser call at t = T.

With no intermediate steps the output is the posterior mean given pure noise: close to the
data mean with almost no spread (for Gaussian data its covariance is about
``alpha_T^2 Sigma^2``, not Sigma). It is the zero point of a study of the number of
reverse steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.diffusion.samplers.base import Denoiser, SampleOutput, check_grid, times_like
from genlab.diffusion.schedule import NoiseSchedule

__all__ = ["sample"]


def sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    keep_steps: bool = False,
) -> SampleOutput:
    """x_T (N, ...) -> ``denoiser(x_T, t_0)`` (N, ...) with t_0 the grid's first value (T):
    one call whatever the grid's length; ``steps`` (if kept) is [x_T, sample]. ``generator``
    is unused (the step is deterministic)."""
    del generator
    grid = check_grid(timesteps, schedule)
    x0_hat = denoiser(x_T, times_like(grid[0], x_T))
    return SampleOutput(sample=x0_hat, steps=[x_T, x0_hat] if keep_steps else [], nfe=1)
