"""Pieces every distilled student shares (reflow in ``flowmatch``, the ``consistency``
family): a reference to its frozen teacher that copies of the student share, and the
pseudo-Huber distance.

A student holds its teacher only while it trains (``genlab distill``): the run layer
loads the teacher run and hands it over (``genlab.teacher``); the teacher's weights are
never part of the student's state, so a saved student samples without its teacher.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from genlab.errors import ConfigError, GenlabError

__all__ = ["TeacherRef", "copy_network", "pseudo_huber"]


class TeacherRef:
    """Holds a frozen teacher module outside the student's parameters and state.

    ``copy.deepcopy`` of the student (the trainer's EMA copy, the step planner's probes)
    returns this same holder, so no copy of the teacher is ever made; the module is put in
    eval mode with gradients off."""

    def __init__(self) -> None:
        self.module: nn.Module | None = None

    def set(self, module: nn.Module) -> None:
        self.module = module.eval().requires_grad_(False)

    def get(self, run: str, device: torch.device | None = None) -> Any:
        """The teacher, moved to ``device`` (the student's, which the trainer may have
        moved after the teacher was handed over); one GenlabError when none is loaded."""
        if self.module is None and not run:
            raise GenlabError(
                "model.teacher is not set: this model is distilled from a trained run "
                "(genlab distill RUN --method ...)"
            )
        if self.module is None:
            raise GenlabError(
                f"this student learns from the teacher run {run!r}, which is not loaded: "
                f"train it with `genlab distill {run} ...` (or `genlab train` with "
                "model.teacher=RUN), which loads the teacher"
            )
        if device is not None and next(self.module.parameters()).device != device:
            self.module.to(device)
        return self.module

    def __deepcopy__(self, memo: dict[int, Any]) -> TeacherRef:
        return self


def pseudo_huber(a: torch.Tensor, b: torch.Tensor, c: float | None = None) -> torch.Tensor:
    """sqrt(||a - b||^2 + c^2) - c per example (N,), the distance of improved consistency
    training (Song & Dhariwal 2023, sec. 3.3): quadratic for small errors, linear for
    large ones. ``c`` None: 0.00054 sqrt(D), their choice for D-dimensional data."""
    d = a[0].numel()
    c = 0.00054 * math.sqrt(d) if c is None else c
    sq = ((a - b) ** 2).flatten(1).sum(1)
    return torch.sqrt(sq + c * c) - c


def copy_network(student: nn.Module, teacher: nn.Module, run: str) -> None:
    """Start ``student`` (a network) from ``teacher``'s weights; one ConfigError naming the
    keys to give when the two networks differ."""
    try:
        student.load_state_dict(teacher.state_dict())
    except RuntimeError:
        raise ConfigError(
            f"model.teacher={run}: the student's network differs from the teacher's; give "
            "it the teacher's model.channels, multipliers, blocks, attention (genlab "
            "distill copies them)"
        ) from None
