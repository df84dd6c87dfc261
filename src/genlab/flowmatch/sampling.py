"""The flowmatch family's sampling options: what ``genlab sample RUN key=value`` sets. Each
field is a keyword of ``FlowMatchModel.sample`` with the same default; None means the
model's own choice (``model.solver``, ``model.nfe``, ``model.tolerance``,
``model.guidance``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import check_fields, ranged

__all__ = ["FlowMatchSampling"]


@dataclass(frozen=True)
class FlowMatchSampling:
    """``solver``: euler, midpoint, heun, rk4 (fixed grids), dopri5 (adaptive), ddim or
    dpmpp (x_0 from the velocity, exponential steps); ``nfe``: network evaluations (a
    multiple of the solver's per step; dopri5 takes ``tolerance`` instead); ``guidance``:
    classifier-free guidance scale; ``label``: the class of every sample."""

    solver: Literal["euler", "midpoint", "heun", "rk4", "dopri5", "ddim", "dpmpp"] | None = None
    nfe: int | None = ranged(None, lambda v: v >= 1, "at least 1")
    tolerance: float | None = ranged(None, lambda v: 0 < v < 1, "in (0, 1)")
    guidance: float | None = ranged(None, lambda v: v >= 0, "at least 0 (1: no guidance)")
    label: int | None = ranged(None, lambda v: v >= 0, "at least 0")

    def __post_init__(self) -> None:
        check_fields(self)
