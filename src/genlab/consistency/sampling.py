"""The consistency family's sampling options: what ``genlab sample RUN key=value`` sets."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.config import check_fields, ranged

__all__ = ["ConsistencySampling"]


@dataclass(frozen=True)
class ConsistencySampling:
    """``nfe``: network evaluations (1: one pass; None: ``model.nfe``)."""

    nfe: int | None = ranged(None, lambda v: v >= 1, "at least 1")

    def __post_init__(self) -> None:
        check_fields(self)
