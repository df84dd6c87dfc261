"""Log-likelihood through an ODE: the instantaneous change of variables (Chen et al. 2018,
Theorem 1; Grathwohl et al. 2019, FFJORD) along ``dx/dt = v(x, t)`` from t_min to 1,

    log p_{t_min}(x) = log N(x_1; 0, I) + int_{t_min}^{1} div v(x_t, t) dt,

solved as one ODE of the augmented state (x_t, int div). The divergence is exact (D
backward passes per evaluation: small D and tests) or Hutchinson's estimate ``e^T (dv/dx)
e`` (Hutchinson 1989; FFJORD sec. 3.1) with ``probes`` Rademacher vectors e drawn once per
solve and kept along it, so the log-density estimate is unbiased for the solved ODE, with
a standard deviation falling as 1/sqrt(probes).

On discrete data the density becomes a probability bound by dequantization: each value
sits at its bin's centre c in model space with bin width w, and for u ~ U[-1/2, 1/2)^D

    -log P(c) <= -log mean_k p(c + w u_k) - D log w    (K = draws; Burda et al. 2016)

an upper bound on -log P in expectation that tightens as K grows (K = 1: the plain
uniform-dequantization bound of Theis et al. 2016). With Hutchinson's estimate inside the
log-mean-exp the bound holds up to that estimator's noise, which is unbiased only in the
log-density itself; the statement records it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from genlab.ode.solvers import Field, solve

__all__ = ["DivergenceKind", "ODEDensity", "dequantized_nll", "jacobian_trace", "log_density"]

DivergenceKind = Literal["exact", "hutchinson"]


@dataclass(frozen=True)
class ODEDensity:
    """``log_p`` (N,) nats at t_min, float64; ``nfe``: field evaluations of the solve
    (each one a forward and, for the divergence, D or ``probes`` backward passes)."""

    log_p: Tensor
    nfe: int


def jacobian_trace(v: Tensor, x: Tensor, probes: Tensor | None) -> Tensor:
    """div v at x (N,): exact when ``probes`` is None, else Hutchinson's mean over
    ``probes`` (M, N, ...) of e^T (dv/dx) e through vector-Jacobian products."""
    if probes is None:
        flat = v.flatten(1)
        div = torch.zeros(len(x), dtype=v.dtype, device=v.device)
        for i in range(flat.shape[1]):
            (g,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)
            div = div + g.flatten(1)[:, i]
        return div
    total = torch.zeros(len(x), dtype=v.dtype, device=v.device)
    for m, e in enumerate(probes):
        (g,) = torch.autograd.grad(v, x, e, retain_graph=m + 1 < len(probes))
        total = total + (g * e).flatten(1).sum(1)
    return total / len(probes)


def log_density(
    field: Field,
    x: Tensor,
    *,
    t_min: float = 0.0,
    method: str = "dopri5",
    steps: int = 0,
    spacing: float = 1.0,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    divergence: DivergenceKind = "hutchinson",
    probes: int = 1,
    generator: torch.Generator | None = None,
) -> ODEDensity:
    """log p_{t_min}(x) (module docstring) of points x (N, ...) in model space, for the
    flow ``field(x, t (N,)) -> v`` whose prior at t = 1 is N(0, I). ``method``: a solver of
    ``ode.solvers`` (fixed-grid ones take ``steps`` steps at t_min + (1 - t_min) (i /
    steps)^``spacing``: 1 uniform, > 1 denser near the data at t_min); ``divergence``:
    "exact" or "hutchinson" with ``probes`` Rademacher vectors (drawn from ``generator``).
    Runs with gradients enabled whatever the caller's mode; returns no graph."""
    if divergence not in ("exact", "hutchinson"):
        raise ValueError(f"divergence must be 'exact' or 'hutchinson', got {divergence!r}")
    with torch.inference_mode(False), torch.enable_grad():
        x = x.detach().clone()
        n, shape = len(x), x.shape[1:]
        e = None
        if divergence == "hutchinson":
            dev = generator.device if generator is not None else x.device
            bits = torch.randint(0, 2, (probes, *x.shape), generator=generator, device=dev)
            e = (2.0 * bits - 1.0).to(x.device, x.dtype)

        def augmented(state: Tensor, t: Tensor) -> Tensor:
            y = state[:, :-1].detach().reshape(n, *shape).requires_grad_(True)
            v = field(y, t)
            div = jacobian_trace(v, y, e)
            return torch.cat([v.detach().flatten(1), div.detach()[:, None]], 1)

        start = torch.cat([x.flatten(1), x.new_zeros(n, 1)], 1)
        if spacing <= 0:
            raise ValueError(f"spacing must be > 0, got {spacing}")
        u = torch.linspace(0.0, 1.0, (steps if method != "dopri5" else 1) + 1, dtype=torch.float64)
        grid = t_min + (1.0 - t_min) * u**spacing
        out = solve(augmented, start, grid, method=method, rtol=rtol, atol=atol)
        z, integral = out.x[:, :-1].double(), out.x[:, -1].double()
        d = z.shape[1]
        log_prior = -0.5 * (z**2).sum(1) - 0.5 * d * math.log(2 * math.pi)
    return ODEDensity(log_prior + integral, out.nfe)


def dequantized_nll(
    field: Field,
    centres: Tensor,
    width: float,
    *,
    draws: int = 1,
    generator: torch.Generator | None = None,
    **options: object,
) -> tuple[Tensor, int]:
    """The K-draw bound (module docstring) on -log P of discrete values at ``centres``
    (N, ...) in model space, bins of side ``width``: (N,) nats, float64, and the NFE of
    the one batched solve (N K points). ``options`` go to :func:`log_density`."""
    assert draws >= 1, draws
    n = len(centres)
    dev = generator.device if generator is not None else centres.device
    u = torch.rand((draws, *centres.shape), generator=generator, device=dev).to(centres)
    points = (centres.unsqueeze(0) + width * (u - 0.5)).flatten(0, 1)  # (K N, ...)
    dens = log_density(field, points, generator=generator, **options)  # type: ignore[arg-type]
    log_p = dens.log_p.view(draws, n)
    log_mean = torch.logsumexp(log_p, 0) - math.log(draws)
    d = centres[0].numel()
    return -(log_mean + d * math.log(width)), dens.nfe
