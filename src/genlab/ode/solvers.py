"""ODE solvers for every continuous-time model: fixed-grid Euler, midpoint, Heun and RK4,
and adaptive Dormand-Prince 5(4) from torchdiffeq (Chen et al. 2018), all stateless.

``solve(field, x, times, method=...)`` integrates ``dx/dt = field(x, t)`` from
``times[0]`` to ``times[-1]`` (either direction: sampling runs t = 1 -> 0, likelihoods
0 -> 1). ``field(x (N, ...), t (N,) float) -> (N, ...)`` is the model seen as a vector
field; the solver wraps it in :class:`CountingField`, so the record's ``nfe`` is the number
of field evaluations actually made (one batched call is one evaluation, classifier-free
guidance's conditional and unconditional halves included).

Fixed-grid methods take one step per interval of ``times`` with h = t_{i+1} - t_i:

- ``euler``    (order 1, 1 evaluation):  x + h f(x, t)
- ``midpoint`` (order 2, 2 evaluations): x + h f(x + h/2 k1, t + h/2)
- ``heun``     (order 2, 2 evaluations): x + h/2 (k1 + f(x + h k1, t + h))
- ``rk4``      (order 4, 4 evaluations): the classical Runge-Kutta step

``dopri5`` ignores the grid's interior points and steps adaptively with relative and
absolute tolerances ``rtol``/``atol`` (torchdiffeq's step-size control, Hairer et al.
1993, II.4); its NFE depends on the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import torch
from torch import Tensor

__all__ = [
    "EVALS_PER_STEP",
    "METHODS",
    "CountingField",
    "Field",
    "Solution",
    "solve",
    "steps_for_nfe",
    "uniform_times",
]

Field = Callable[[Tensor, Tensor], Tensor]
EVALS_PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
METHODS = (*EVALS_PER_STEP, "dopri5")


class CountingField:
    """``field`` with a count of its calls (``nfe``); t given as a float or (N,)."""

    def __init__(self, fn: Field) -> None:
        self.fn, self.nfe = fn, 0

    def __call__(self, x: Tensor, t: Tensor | float) -> Tensor:
        self.nfe += 1
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return self.fn(x, t.expand(x.shape[0]) if t.dim() == 0 else t)


@dataclass
class Solution:
    """``x`` (N, ...) at ``times[-1]``; ``steps``: x at every grid point (first is the
    start) when kept, else []; ``nfe``: field evaluations made."""

    x: Tensor
    steps: list[Tensor] = field(default_factory=list)
    nfe: int = 0


def uniform_times(steps: int, start: float = 1.0, end: float = 0.0) -> Tensor:
    """(steps + 1,) float64 evenly spaced from ``start`` to ``end``."""
    if steps < 1:
        raise ValueError(f"need at least one step, got {steps}")
    return torch.linspace(start, end, steps + 1, dtype=torch.float64)


def steps_for_nfe(method: str, nfe: int) -> int:
    """Grid steps that spend exactly ``nfe`` evaluations with a fixed-grid ``method``."""
    per = EVALS_PER_STEP[method]
    if nfe < per or nfe % per:
        raise ValueError(
            f"nfe={nfe} with solver={method} ({per} evaluations a step) must be a positive "
            f"multiple of {per}"
        )
    return nfe // per


def _step(f: CountingField, method: str, x: Tensor, t: float, h: float) -> Tensor:
    k1 = f(x, t)
    if method == "euler":
        return x + h * k1
    if method == "midpoint":
        return x + h * f(x + 0.5 * h * k1, t + 0.5 * h)
    if method == "heun":
        return x + 0.5 * h * (k1 + f(x + h * k1, t + h))
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


def solve(
    fn: Field,
    x: Tensor,
    times: Tensor,
    *,
    method: str = "euler",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    keep_steps: bool = False,
) -> Solution:
    """x (N, ...) at ``times[0]`` -> the solution at ``times[-1]`` (see module docstring);
    ``times`` (K + 1,) strictly monotone, K >= 1."""
    ts = [float(t) for t in torch.as_tensor(times).flatten()]
    if len(ts) < 2 or not (
        all(a < b for a, b in pairwise(ts)) or all(a > b for a, b in pairwise(ts))
    ):
        raise ValueError(f"times must be a strictly monotone grid of >= 2 points, got {ts}")
    if method not in METHODS:
        raise ValueError(f"unknown ODE solver {method!r}; choose one of {', '.join(METHODS)}")
    f = CountingField(fn)
    if method == "dopri5":
        end = _dopri5(f, x, ts[0], ts[-1], rtol=rtol, atol=atol)
        return Solution(end, [x, end] if keep_steps else [], f.nfe)
    steps = [x] if keep_steps else []
    for t, s in pairwise(ts):
        x = _step(f, method, x, t, s - t)
        if keep_steps:
            steps.append(x)
    return Solution(x, steps, f.nfe)


def _dopri5(
    f: CountingField, x: Tensor, t0: float, t1: float, *, rtol: float, atol: float
) -> Tensor:
    from torchdiffeq import odeint  # a dependency of genlab; imported where it is used

    span = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
    return odeint(lambda t, y: f(y, t), x, span, method="dopri5", rtol=rtol, atol=atol)[-1]
