"""What a continuous-time model pays for its log-density, beside a coupling layer's log-det.

A continuous normalising flow (flow matching, a diffusion model's probability-flow ODE)
changes log-density by -int div v dt (Chen et al. 2018): at every field evaluation it needs
the trace of a free-form D x D Jacobian. Exactly, that is D vector-Jacobian products (one
backward pass per dimension); Hutchinson's estimator e^T (dv/dx) e with a Rademacher probe
e costs one, but is noisy (FFJORD, Grathwohl et al. 2019). A coupling layer's triangular
Jacobian gives its exact log-det inside its forward pass, with no backward pass at all.

Timed like for like with ``jacobian.check_logdet``: float64 on the CPU, one example at a
time, a field of the coupling conditioner's size: v(x, t) = x + MLP(x, t), 2 x 64 units on
[x, embed(t)], its last layer randomly initialised (the identity part gives the trace the
size of a real velocity field's, ~D near the noise, so a wrongly scaled estimator cannot hide
in the noise of a trace near 0; the MLP part gives the estimator its noise, which comes only
from off-diagonal terms for Rademacher probes). Per example the forward pass
alone, the forward with one Hutchinson probe and the forward with the exact trace, back to
back. Hutchinson's estimator is checked against the exact trace (it must be unbiased) on
many probes at one dimension.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from genlab.nn.velocity import VectorVelocity
from genlab.ode.likelihood import jacobian_trace

__all__ = [
    "HutchinsonCheck",
    "ResidualField",
    "TraceCost",
    "check_hutchinson",
    "make_field",
    "time_trace",
]

HIDDEN, DEPTH = 64, 2  # the coupling conditioner's width and depth (jacobian.make_coupling)
TIME = 500.0  # the network time (TIME_SCALE * t, t = 0.5) every evaluation uses


class ResidualField(nn.Module):
    """``(x, t) -> x + mlp(x, t)``: a free-form field whose Jacobian is I + the MLP's."""

    def __init__(self, mlp: VectorVelocity) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x, t)


def make_field(dim: int, *, seed: int = 0) -> ResidualField:
    """A float64 free-form velocity field on ``dim`` features (module docstring), the
    MLP's last layer re-initialised (the default zero init would make it 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = VectorVelocity(dim, hidden=HIDDEN, depth=DEPTH)
        last = mlp.net[-1]
        assert isinstance(last, nn.Linear)
        last.reset_parameters()
    return ResidualField(mlp).double().eval()


def _probe(dim: int, n: int, g: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """(n, 1, dim) Rademacher probes times ``scale`` (1: the estimator's; tests plant 2)."""
    return scale * (2.0 * torch.randint(0, 2, (n, 1, dim), generator=g) - 1.0).double()


@dataclass(frozen=True)
class TraceCost:
    """One dimension: median seconds over the examples of the forward pass alone, with one
    Hutchinson probe, with the exact trace; ``log_ratios``: each example's log(exact /
    Hutchinson), timed back to back."""

    dim: int
    forward_s: float
    hutchinson_s: float
    exact_s: float
    log_ratios: tuple[float, ...]

    @property
    def exact_over_hutchinson(self) -> float:
        return math.exp(statistics.fmean(self.log_ratios))


def _timed_divergence(field: nn.Module, x: torch.Tensor, probes: torch.Tensor | None) -> float:
    t = torch.full((1,), TIME, dtype=torch.float64)
    start = time.perf_counter()
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        jacobian_trace(field(xg, t), xg, probes)
    return time.perf_counter() - start


def time_trace(dim: int, *, examples: int = 3, repeats: int = 5, seed: int = 0) -> TraceCost:
    """Time the three ways on ``examples`` single examples (forward and Hutchinson:
    median of ``repeats`` calls each; the exact trace: one call)."""
    field = make_field(dim, seed=seed)
    g = torch.Generator().manual_seed(seed + dim)
    x = torch.randn(examples, 1, dim, generator=g, dtype=torch.float64)
    t = torch.full((1,), TIME, dtype=torch.float64)
    probe = _probe(dim, 1, g)
    _timed_divergence(field, x[0], probe)  # warm-up
    fwd, hut, exact, logs = [], [], [], []
    for row in x:
        with torch.no_grad():
            calls = []
            for _ in range(repeats):
                start = time.perf_counter()
                field(row, t)
                calls.append(time.perf_counter() - start)
        h = statistics.median(_timed_divergence(field, row, probe) for _ in range(repeats))
        e = _timed_divergence(field, row, None)
        fwd.append(statistics.median(calls))
        hut.append(h)
        exact.append(e)
        logs.append(math.log(e / h))
    return TraceCost(
        dim=dim,
        forward_s=statistics.median(fwd),
        hutchinson_s=statistics.median(hut),
        exact_s=statistics.median(exact),
        log_ratios=tuple(logs),
    )


@dataclass(frozen=True)
class HutchinsonCheck:
    """At one dimension and one example: the exact trace, the mean of ``probes``
    one-probe estimates, their standard deviation (one probe's noise) and the mean's SE."""

    dim: int
    probes: int
    exact: float
    mean: float
    sd: float

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.probes)


def check_hutchinson(
    dim: int, *, probes: int = 1024, seed: int = 0, scale: float = 1.0
) -> HutchinsonCheck:
    """Exact trace against ``probes`` independent one-probe estimates at one example
    (``scale`` multiplies the probes: 1 is the estimator, anything else a planted bug)."""
    field = make_field(dim, seed=seed)
    g = torch.Generator().manual_seed(seed + 7 * dim)
    x = torch.randn(1, dim, generator=g, dtype=torch.float64).requires_grad_(True)
    v = field(x, torch.full((1,), TIME, dtype=torch.float64))
    exact = float(jacobian_trace(v, x, None))
    estimates = []
    for e in _probe(dim, probes, g, scale):
        (grad,) = torch.autograd.grad(v, x, e, retain_graph=True)
        estimates.append(float((grad * e).sum()))
    return HutchinsonCheck(
        dim, probes, exact, statistics.fmean(estimates), statistics.stdev(estimates)
    )
