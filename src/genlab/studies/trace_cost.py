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
from pathlib import Path

import torch
from torch import nn

from genlab.nn.velocity import VectorVelocity
from genlab.ode.likelihood import jacobian_trace
from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.checks import Evidence, se_name
from genlab.studies.jacobian import LogdetCheck, loglog_fit

__all__ = [
    "HutchinsonCheck",
    "ResidualField",
    "TraceCost",
    "check_hutchinson",
    "make_field",
    "time_trace",
    "trace_evidence",
    "trace_figure",
    "trace_table",
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


def trace_evidence(
    traces: list[TraceCost], hutch: HutchinsonCheck, logdets: list[LogdetCheck], fit_from: int
) -> Evidence:
    """Part (c): cost exponents of the free-form field's three ways, the times at the
    data's dimension beside the affine coupling layer's exact log-det, Hutchinson's bias."""
    big = [c for c in traces if c.dim >= fit_from]
    big = big if len(big) >= 2 else traces  # as _fit: every D when fewer are that large
    ev = Evidence()
    for name, fn in (
        ("field_forward_cost_exponent", lambda c: c.forward_s),
        ("hutchinson_cost_exponent", lambda c: c.hutchinson_s),
        ("exact_trace_cost_exponent", lambda c: c.exact_s),
        ("exact_trace_over_hutchinson_exponent", lambda c: c.exact_over_hutchinson),
    ):
        fit = loglog_fit([c.dim for c in big], [fn(c) for c in big])
        ev[name], ev[se_name(name)] = fit.p, fit.se
    at = next(c for c in traces if c.dim == hutch.dim)
    coupling = next(c for c in logdets if c.layer == "affine" and c.dim == hutch.dim)
    ev["field_forward_s_at_data_dim"] = at.forward_s
    ev["hutchinson_s_at_data_dim"] = at.hutchinson_s
    ev["exact_trace_s_at_data_dim"] = at.exact_s
    ev["affine_exact_s_at_data_dim"] = coupling.exact_s
    ev["exact_trace_over_hutchinson_at_data_dim"] = at.exact_over_hutchinson
    ev["exact_trace_over_affine_at_data_dim"] = at.exact_s / coupling.exact_s
    ev["hutchinson_over_affine_at_data_dim"] = at.hutchinson_s / coupling.exact_s
    ev["hutchinson_probes"] = hutch.probes
    ev["exact_trace_at_data_dim"] = hutch.exact
    ev["hutchinson_mean_at_data_dim"] = hutch.mean
    ev["hutchinson_sd_at_data_dim"] = hutch.sd  # one probe's noise, in nats per evaluation
    ev["hutchinson_abs_bias_in_sd"] = abs(hutch.mean - hutch.exact) / hutch.sd
    ev[se_name("hutchinson_abs_bias_in_sd")] = hutch.se / hutch.sd  # 1 / sqrt(probes)
    return ev


def trace_table(traces: list[TraceCost], logdets: list[LogdetCheck]) -> Table:
    affine = {c.dim: c.exact_s for c in logdets if c.layer == "affine"}
    rows = [
        [
            c.dim,
            affine[c.dim] * 1e6,
            c.forward_s * 1e6,
            c.hutchinson_s * 1e6,
            c.exact_s * 1e3,
            c.exact_over_hutchinson,
        ]
        for c in traces
    ]
    cols = ["D", "affine coupling: exact log-det (µs)", "free-form field: forward (µs)"]
    cols += ["+ one Hutchinson probe (µs)", "+ exact trace (ms)", "exact / Hutchinson"]
    note = (
        "One example at a time, float64, medians over the examples (exact / Hutchinson: "
        "geometric mean of each example's ratio). The coupling layer's log-det comes out of "
        "its forward pass; the free-form field needs one backward pass per probe, or one per "
        "dimension for the exact trace, at every evaluation of the ODE."
    )
    return Table("A free-form Jacobian's trace against the triangular log-det", cols, rows, note)


def trace_figure(traces: list[TraceCost], logdets: list[LogdetCheck], out: Path) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    affine = [c for c in logdets if c.layer == "affine"]
    ax.loglog(
        [c.dim for c in affine],
        [c.exact_s for c in affine],
        "o-",
        label="affine coupling: exact log-det",
    )
    dims = [c.dim for c in traces]
    ax.loglog(dims, [c.forward_s for c in traces], "^:", label="free-form field: forward")
    ax.loglog(dims, [c.hutchinson_s for c in traces], "s--", label="+ one Hutchinson probe")
    ax.loglog(dims, [c.exact_s for c in traces], "d-.", label="+ exact trace (D passes)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("dimension D")
    ax.set_ylabel("seconds, one example, one evaluation")
    ax.set_title("log-density cost: triangular vs free-form Jacobian")
    ax.legend(fontsize=7)
    fig.tight_layout()
    caption = (
        "Cost of the log-density term of one example at one evaluation: a coupling layer's "
        "exact log-det (its forward pass) against a free-form field of the same width with "
        "Hutchinson's one-probe estimate and with the exact trace. A continuous-time model "
        "pays this at every ODE step."
    )
    return save_figure(fig, out, "trace_cost.png", caption)
