"""Exact coupling log-determinants against the brute-force Jacobian determinant.

A coupling layer y = b x + (1 - b) g(x; theta(b x)) has a triangular Jacobian (after
ordering kept before transformed features), so log|det dy/dx| = sum log|g'| over the
transformed part comes out of the forward pass at O(D) cost (Dinh et al. 2015, eq. 4;
Dinh et al. 2017, eq. 6). The brute force builds the D x D Jacobian by autograd (D
vector-Jacobian products, vectorised: O(D^2) work for a conditioner of fixed width)
and factorises it for ``slogdet`` (LU, O(D^3)).

Everything here runs in float64 on the CPU, one example at a time for both: the exact
log-det is timed on the same single example as the brute force (like for like; a
batched forward divided by its batch would hide the per-call cost that one example pays).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch

from genlab.flows.transforms import (
    AdditiveCoupling,
    AffineCoupling,
    SplineCoupling,
    Transform,
    conditioner_sizes,
    half_mask,
)
from genlab.nn import MLP

__all__ = [
    "LAYERS",
    "LogLogFit",
    "LogdetCheck",
    "brute_logdet",
    "check_logdet",
    "loglog_fit",
    "make_coupling",
]

LayerKind = Literal["affine", "additive", "spline"]
LAYERS: tuple[LayerKind, ...] = ("affine", "additive", "spline")
SPLINE_BINS = 8
T = TypeVar("T")


def make_coupling(kind: LayerKind, dim: int, *, hidden: int = 64, seed: int = 0) -> Transform:
    """A float64 vector coupling layer on ``dim`` features (half mask) with an MLP
    conditioner of width ``hidden`` whose last layer is randomly re-initialised (the
    default zero init would make the layer the identity, log-det 0)."""
    assert dim >= 2, dim
    per = {"affine": 2, "additive": 1, "spline": 3 * SPLINE_BINS - 1}[kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mask = half_mask(dim)
        net = MLP(*conditioner_sizes(mask, per), hidden=hidden, depth=2)
        net.last.reset_parameters()
    if kind == "affine":
        layer: Transform = AffineCoupling(mask, net)
    elif kind == "additive":
        layer = AdditiveCoupling(mask, net)
    else:
        layer = SplineCoupling(mask, net, bins=SPLINE_BINS, bound=3.0)
    return layer.double().eval()


def _jacobian(layer: Transform, x: torch.Tensor) -> torch.Tensor:
    """(D, D) Jacobian of the layer's forward map at one example ``x`` (D,)."""

    def f(v: torch.Tensor) -> torch.Tensor:
        return layer(v[None])[0][0]

    return torch.autograd.functional.jacobian(f, x, vectorize=True)


def brute_logdet(layer: Transform, x: torch.Tensor) -> torch.Tensor:
    """log|det J| per example (N,) from the autograd Jacobian and ``slogdet``."""
    out = []
    for row in x:
        sign, logabs = torch.linalg.slogdet(_jacobian(layer, row))
        assert sign != 0, "singular Jacobian: the layer is not invertible here"
        out.append(logabs)
    return torch.stack(out)


@dataclass(frozen=True)
class LogdetCheck:
    """One layer at one dimension: agreement and cost (seconds), like for like.

    Both log-dets are timed on the same examples, one example at a time: ``exact_s``
    is the layer's forward pass on that one example (which returns the log-det; median
    of repeated calls), ``brute_s`` = ``jacobian_s + slogdet_s`` its autograd Jacobian
    and ``slogdet``; each is the median over the examples. ``log_ratios`` holds each
    example's log(brute / exact) (natural log), timed back to back so that a change in
    the machine's load hits both. ``max_abs_diff``: max over the examples of
    |exact - brute| log-det (nats).
    """

    layer: str
    dim: int
    max_abs_diff: float
    exact_s: float
    brute_s: float
    jacobian_s: float
    slogdet_s: float
    log_ratios: tuple[float, ...]

    @property
    def brute_over_exact(self) -> float:
        """Geometric mean over the examples of brute / exact time."""
        return math.exp(statistics.fmean(self.log_ratios))

    @property
    def brute_over_exact_se(self) -> float | None:
        """SE of :attr:`brute_over_exact` (delta method on the log ratios' standard
        error of the mean); ``None`` with fewer than two examples."""
        n = len(self.log_ratios)
        if n < 2:
            return None
        return self.brute_over_exact * statistics.stdev(self.log_ratios) / math.sqrt(n)


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def check_logdet(
    kind: LayerKind,
    dim: int,
    *,
    examples: int = 3,
    repeats: int = 5,
    hidden: int = 64,
    seed: int = 0,
) -> LogdetCheck:
    """Compare and time the exact and the brute-force log-det of one coupling layer on
    ``examples`` examples, one at a time (the exact call ``repeats`` times each)."""
    assert examples >= 1 and repeats >= 1, (examples, repeats)
    layer = make_coupling(kind, dim, hidden=hidden, seed=seed)
    g = torch.Generator().manual_seed(seed + dim)
    x = torch.randn(examples, dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        layer(x[:1])  # warm-up
    torch.linalg.slogdet(_jacobian(layer, x[0]))  # warm-up: the first vectorised call traces
    diffs, exact_t, jac_t, det_t = [], [], [], []
    for row in x:
        with torch.no_grad():
            ld = layer(row[None])[1][0]
            calls = [_timed(lambda row=row: layer(row[None]))[1] for _ in range(repeats)]
        jac, tj = _timed(lambda row=row: _jacobian(layer, row))
        (sign, logabs), ts = _timed(lambda jac=jac: torch.linalg.slogdet(jac))
        assert sign != 0, f"singular Jacobian for {kind} at dim {dim}"
        diffs.append(abs(float(logabs) - float(ld)))
        exact_t.append(statistics.median(calls))
        jac_t.append(tj)
        det_t.append(ts)
    jacobian_s, slogdet_s = statistics.median(jac_t), statistics.median(det_t)
    return LogdetCheck(
        layer=kind,
        dim=dim,
        max_abs_diff=max(diffs),
        exact_s=statistics.median(exact_t),
        brute_s=jacobian_s + slogdet_s,
        jacobian_s=jacobian_s,
        slogdet_s=slogdet_s,
        log_ratios=tuple(
            math.log((j + d) / e) for j, d, e in zip(jac_t, det_t, exact_t, strict=True)
        ),
    )


@dataclass(frozen=True)
class LogLogFit:
    """Exponent ``p`` of cost ~ dim^p fitted by least squares on log-log, with its
    standard error from the fit's residuals (``None`` with fewer than three points)."""

    p: float
    se: float | None
    points: int


def loglog_fit(dims: Sequence[int], seconds: Sequence[float]) -> LogLogFit:
    """Least-squares slope of log(seconds) against log(dim): the exponent p of
    cost ~ dim^p (1 linear, 2 quadratic, 3 cubic), with the slope's standard error
    sqrt(RSS / (n - 2) / Sxx). ``seconds`` may be any positive cost, or a ratio of
    two costs (then p is the difference of their exponents)."""
    assert len(dims) == len(seconds) >= 2, (dims, seconds)
    lx = [math.log(d) for d in dims]
    ly = [math.log(max(s, 1e-12)) for s in seconds]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    p = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sxx
    n = len(lx)
    if n < 3:
        return LogLogFit(p, None, n)
    rss = sum((b - my - p * (a - mx)) ** 2 for a, b in zip(lx, ly, strict=True))
    return LogLogFit(p, math.sqrt(rss / (n - 2) / sxx), n)
