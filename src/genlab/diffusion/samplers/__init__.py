"""Reverse-process samplers: stateless functions ``sample(denoiser, schedule, x_T, timesteps,
*, generator, keep_steps, ...)`` over a decreasing grid from ``timestep_grid``.

``ddpm``: ancestral sampling (Ho et al. 2020); ``ddim``: Song et al. 2021 (eta = 0:
deterministic); ``dpmpp``: DPM-Solver++(2M) (Lu et al. 2022); ``oneshot``: one call,
E[x_0 | x_T], the no-steps baseline. ``DEFAULT_SPACING`` is each sampler's grid, chosen on
the analytic Gaussian test (tests/diffusion/test_samplers.py).
"""

from __future__ import annotations

from collections.abc import Callable

from genlab.diffusion.samplers import ancestral, ddim, dpm_solver, one_shot
from genlab.diffusion.samplers.base import (
    Denoiser,
    SampleOutput,
    Spacing,
    timestep_grid,
)

__all__ = [
    "DEFAULT_SPACING",
    "SAMPLERS",
    "Denoiser",
    "SampleOutput",
    "Spacing",
    "timestep_grid",
]

SAMPLERS: dict[str, Callable[..., SampleOutput]] = {
    "ddpm": ancestral.sample,
    "ddim": ddim.sample,
    "dpmpp": dpm_solver.sample,
    "oneshot": one_shot.sample,
}

# chosen on the Gaussian test (cosine schedule, 10-20 steps): uniform is best or close to
# best for every sampler; logsnr wastes steps next to the cosine schedule's clipped last beta
DEFAULT_SPACING: dict[str, Spacing] = {
    "ddpm": "uniform",
    "ddim": "uniform",
    "dpmpp": "uniform",
    "oneshot": "uniform",
}
