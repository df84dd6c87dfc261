"""DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) over the diffusion schedule's timestep
grid: the steps are ``genlab.ode.exponential.dpmpp_2m`` (their formulas are stated there,
shared with the flow-matching model) at the schedule's alpha and sigma of the grid; the
step to t = 0 returns x0_hat. One denoiser call per step, no randomness.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.diffusion.samplers.base import Denoiser, SampleOutput, check_grid, times_like
from genlab.diffusion.schedule import NoiseSchedule
from genlab.ode.exponential import dpmpp_2m

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
    """x_T (N, ...) -> samples (N, ...) after ``len(timesteps) - 1`` denoiser calls;
    deterministic (``generator`` is unused). The steps are ``ode.exponential.dpmpp_2m``'s
    at the schedule's (alpha, sigma) of the grid."""
    del generator
    grid = check_grid(timesteps, schedule)
    ts = torch.tensor(grid)
    x, steps = dpmpp_2m(
        lambda x, i: denoiser(x, times_like(grid[i], x)),
        schedule.alpha(ts),
        schedule.sigma(ts),
        x_T,
        keep_steps=keep_steps,
    )
    return SampleOutput(sample=x, steps=steps, nfe=len(grid) - 1)
