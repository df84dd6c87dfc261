"""What every sampler shares: the denoiser contract, the output record, the timestep grid.

A sampler runs the reverse process over a decreasing grid ``T = t_0 > t_1 > ... > t_K = 0``
of K network evaluations, each step given the pair (t, s) = (t_i, t_{i+1}). The network is
seen only through a ``Denoiser``: ``(x_t (N, ...), t long (N,)) -> x0_hat (N, ...)``, the
estimate of E[x_0 | x_t]; samplers that need the noise use ``eps_hat = (x_t - alpha_t x0_hat)
/ sigma_t``. Samplers are stateless functions (no ``set_timesteps``), take all randomness
from ``generator`` and keep x's shape and dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import torch
from torch import Tensor

from genlab.diffusion.schedule import NoiseSchedule

__all__ = [
    "Denoiser",
    "SampleOutput",
    "Spacing",
    "check_grid",
    "noise_like",
    "timestep_grid",
    "times_like",
]

Denoiser = Callable[[Tensor, Tensor], Tensor]
Spacing = Literal["uniform", "quadratic", "logsnr"]


@dataclass
class SampleOutput:
    """``sample`` (N, ...); ``steps``: x at every grid point, x_T first and ``sample`` last
    (K + 1 tensors) when the sampler ran with ``keep_steps=True``, else []; ``nfe``: number
    of denoiser calls."""

    sample: Tensor
    steps: list[Tensor] = field(default_factory=list)
    nfe: int = 0


def _strict_integers(u: Tensor, T: int) -> Tensor:
    """Increasing reals u (K + 1,) from 0 to T -> the nearest strictly increasing integers
    from 0 to T: round, then push collisions up (forward pass) and back below T (backward)."""
    t = torch.floor(u.to(torch.float64) + 0.5).long().tolist()
    t[0] = 0
    for i in range(1, len(t)):
        t[i] = max(t[i], t[i - 1] + 1)
    t[-1] = T
    for i in range(len(t) - 2, -1, -1):
        t[i] = min(t[i], t[i + 1] - 1)
    return torch.tensor(t, dtype=torch.long)


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation of (xp, fp) at x, xp increasing (numpy.interp)."""
    i = torch.searchsorted(xp, x).clamp(1, xp.shape[0] - 1)
    w = ((x - xp[i - 1]) / (xp[i] - xp[i - 1])).clamp(0, 1)
    return torch.lerp(fp[i - 1], fp[i], w)


def timestep_grid(
    T: int, steps: int, spacing: Spacing = "uniform", schedule: NoiseSchedule | None = None
) -> Tensor:
    """Long (steps + 1,), strictly decreasing from T to 0: a grid of ``steps`` evaluations.

    ``uniform``: equal steps in t. ``quadratic``: t proportional to (i / steps)^2, denser near
    the data (Song et al. 2021, DDIM, appendix D.2). ``logsnr``: equal steps in
    ``lambda = log(alpha^2 / sigma^2)`` from t = T to t = 1, then 0 (Lu et al. 2022,
    DPM-Solver, sec. 3.3); needs ``schedule``. Rounding to integers keeps the points distinct
    by moving colliding ones to the nearest free step.
    """
    if not 1 <= steps <= T:
        raise ValueError(f"need 1 <= steps <= T = {T} sampling steps, got {steps}")
    if steps == 1:
        return torch.tensor([T, 0], dtype=torch.long)
    frac = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    if spacing == "uniform":
        u = T * frac
    elif spacing == "quadratic":
        u = T * frac**2
    elif spacing == "logsnr":
        if schedule is None or schedule.T != T:
            raise ValueError(f"logsnr spacing needs the schedule (with T = {T}); pass schedule=")
        t = torch.arange(1, T + 1, dtype=torch.float64)
        neg_lam = -schedule.log_snr(t.long()).cpu()  # increasing in t = 1..T
        targets = torch.linspace(float(neg_lam[0]), float(neg_lam[-1]), steps, dtype=torch.float64)
        u = torch.cat([torch.zeros(1, dtype=torch.float64), _interp(targets, neg_lam, t)])
    else:
        raise ValueError(f"unknown spacing {spacing!r}; use 'uniform', 'quadratic' or 'logsnr'")
    return _strict_integers(u, T).flip(0)


def check_grid(timesteps: Tensor, schedule: NoiseSchedule) -> list[int]:
    """The grid as Python ints (one device sync), after checking that it is 1-D, has at least
    two points, decreases strictly and lies in [0, T]."""
    ts = timesteps.tolist() if timesteps.dim() == 1 else None
    if ts is None or len(ts) < 2:
        raise ValueError(
            f"timesteps must be a 1-D grid of >= 2 points, got {tuple(timesteps.shape)}"
        )
    if any(a <= b for a, b in pairwise(ts)) or ts[-1] < 0 or ts[0] > schedule.T:
        raise ValueError(f"timesteps must decrease strictly within [0, {schedule.T}], got {ts}")
    return [int(t) for t in ts]


def times_like(t: int, x: Tensor) -> Tensor:
    """The time t as the denoiser takes it: long (N,) on x's device."""
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


def noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (x's device when
    there is no generator), returned on x's device in x's dtype."""
    device = generator.device if generator is not None else x.device
    z = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
    return z.to(x.device)
