"""DPM-Solver++(2M): the multistep second-order solver of the probability-flow ODE in data
prediction form (Lu et al. 2022, "DPM-Solver++", Algorithm 2).

With ``lambda = log(alpha / sigma)`` (half the log-SNR), ``h_i = lambda_{t_i} -
lambda_{t_{i-1}} > 0`` and ``x0_i = x0_hat(x_{t_i}, t_i)`` the step to t_i is

    x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i,
    D_i = (1 + 1 / (2 r_i)) x0_{i-1} - 1 / (2 r_i) x0_{i-2},   r_i = h_{i-1} / h_i,

with ``D_1 = x0_0`` (first order, which is DDIM with eta = 0). The step to t = 0, where
sigma = 0 and lambda = +inf, is first order and returns x0_hat ("lower order final", Lu et al.
2022, sec. 5). One denoiser call per step, no randomness.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.diffusion.samplers.base import Denoiser, SampleOutput, check_grid, times_like
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
) -> SampleOutput:
    """x_T (N, ...) -> samples (N, ...) after ``len(timesteps) - 1`` denoiser calls;
    deterministic (``generator`` is unused)."""
    del generator
    grid = check_grid(timesteps, schedule)
    ts = torch.tensor(grid)
    alpha, sigma = schedule.alpha(ts), schedule.sigma(ts)  # float64 (K + 1,)
    lam = 0.5 * schedule.log_snr(ts)
    x, steps = x_T, [x_T] if keep_steps else []
    prev: Tensor | None = None  # x0_hat at the grid point before the current one
    for i in range(1, len(grid)):
        x0_hat = denoiser(x, times_like(grid[i - 1], x))
        if grid[i] == 0:
            x = x0_hat
        else:
            h = lam[i] - lam[i - 1]
            d = x0_hat
            if prev is not None:
                r = (lam[i - 1] - lam[i - 2]) / h
                d = x0_hat + per_example(1 / (2 * r), x) * (x0_hat - prev)
            x_ratio = per_example(sigma[i] / sigma[i - 1], x)
            x = x_ratio * x - per_example(alpha[i] * torch.expm1(-h), x) * d
        prev = x0_hat
        if keep_steps:
            steps.append(x)
    return SampleOutput(sample=x, steps=steps, nfe=len(grid) - 1)
