"""Options of the ``consistency`` family (``model.KEY=VALUE``), each with its valid range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import check_fields, ranged

__all__ = ["ConsistencyConfig"]


@dataclass(frozen=True)
class ConsistencyConfig:
    """Options of the ``consistency`` family (``model.KEY=VALUE`` on the command line)."""

    # the flow-matching run distilled (genlab distill copies its path and network sizes)
    teacher: str = ""
    # the teacher's probability path, t = 0 data and t = 1 noise (genlab.ode.paths)
    path: Literal["linear", "cosine"] = "linear"
    # the network: the teacher's (flowmatch's U-Net for images, its MLP for vectors)
    channels: int = ranged(24, lambda v: v >= 1, "at least 1")
    multipliers: tuple[int, ...] = ranged(
        (1, 2, 3), lambda v: len(v) >= 1 and min(v) >= 1, "one or more, each at least 1"
    )
    blocks: int = ranged(1, lambda v: v >= 1, "at least 1")
    attention: tuple[int, ...] = ranged((2,), lambda v: all(a >= 0 for a in v), "each at least 0")
    dropout: float = ranged(0.1, lambda v: 0 <= v < 1, "in [0, 1)")
    hidden: int = ranged(256, lambda v: v >= 1, "at least 1")
    depth: int = ranged(3, lambda v: v >= 1, "at least 1")
    # consistency distillation (Song et al. 2023, Algorithm 2): the teacher's ODE cut into
    # `intervals` steps at t_i = t_min + (1 - t_min) (i / intervals)^spacing; each training
    # step takes one teacher step (teacher_solver) from t_{n+1} to t_n and pulls the
    # student's output at t_{n+1} to the target network's at t_n
    t_min: float = ranged(0.0, lambda v: 0 <= v < 0.5, "in [0, 0.5)")
    intervals: int = ranged(18, lambda v: v >= 1, "at least 1")
    spacing: float = ranged(2.0, lambda v: 0 < v <= 8, "in (0, 8]")
    teacher_solver: Literal["euler", "heun"] = "heun"
    # the target network theta^- = mu theta^- + (1 - mu) theta after every step (Song et al.
    # 2023 eq. 8), a tensor apart from the evaluation EMA (train.ema)
    target_ema: float = ranged(0.95, lambda v: 0 <= v < 1, "in [0, 1)")
    # the distance: pseudo-Huber (Song & Dhariwal 2023, c = 0.00054 sqrt(D)) or squared L2
    distance: Literal["pseudo_huber", "l2"] = "pseudo_huber"
    # sample(): network evaluations (1: one pass), at times 1 and then t_min + (1 - t_min)
    # ((K - k) / K)^spacing, k = 1..K-1, re-noised in between (Song et al. 2023, Algorithm 1)
    nfe: int = ranged(1, lambda v: v >= 1, "at least 1")
    clip: bool = True  # clip samples to [-1, 1]

    def __post_init__(self) -> None:
        check_fields(self, "model.")
