"""Options of the ``flowmatch`` family (``model.KEY=VALUE`` on the command line), each with
its valid range next to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import check_fields, ranged
from genlab.errors import ConfigError
from genlab.ode.solvers import EVALS_PER_STEP

__all__ = ["FlowMatchConfig", "Solver"]

Solver = Literal["euler", "midpoint", "heun", "rk4", "dopri5", "ddim", "dpmpp"]


@dataclass(frozen=True)
class FlowMatchConfig:
    """Options of the ``flowmatch`` family (``model.KEY=VALUE`` on the command line)."""

    # the probability path, t = 0 data and t = 1 noise (genlab.ode.paths): linear
    # (conditional OT / rectified flow) or cosine (variance preserving)
    path: Literal["linear", "cosine"] = "linear"
    # training times: uniform on [0, 1] or logit-normal (Esser et al. 2024, SD3, sec. 3.1)
    time_sampling: Literal["uniform", "logit_normal"] = "logit_normal"
    logit_mean: float = ranged(
        0.0, lambda v: -1.5 <= v <= 1.5, "in [-1.5, 1.5]"
    )  # the logit-normal's location m
    logit_std: float = ranged(1.0, lambda v: v > 0, "above 0")  # and its scale s
    # the U-Net: the diffusion family's (the same sizes on the same data)
    channels: int = ranged(24, lambda v: v >= 1, "at least 1")
    multipliers: tuple[int, ...] = ranged(
        (1, 2, 3), lambda v: len(v) >= 1 and min(v) >= 1, "one or more, each at least 1"
    )
    blocks: int = ranged(1, lambda v: v >= 1, "at least 1")
    attention: tuple[int, ...] = ranged((2,), lambda v: all(a >= 0 for a in v), "each at least 0")
    dropout: float = ranged(0.1, lambda v: 0 <= v < 1, "in [0, 1)")
    # vector data (toy2d): the velocity MLP's width and hidden layers instead of the U-Net
    hidden: int = ranged(256, lambda v: v >= 1, "at least 1")
    depth: int = ranged(3, lambda v: v >= 1, "at least 1")
    conditional: bool = False  # class labels, with classifier-free guidance
    p_uncond: float = ranged(0.1, lambda v: 0 <= v <= 1, "in [0, 1]")
    guidance: float = ranged(1.0, lambda v: v >= 0, "at least 0 (1: plain conditional)")
    # sample(): the solver and its network evaluations (a multiple of the solver's
    # evaluations per step: heun and midpoint 2, rk4 4; dopri5 uses tolerance instead)
    solver: Solver = "heun"
    nfe: int = ranged(20, lambda v: v >= 1, "at least 1")
    tolerance: float = ranged(1e-3, lambda v: 0 < v < 1, "in (0, 1)")  # dopri5's rtol = atol
    clip: bool = True  # clip samples (and x_0 estimates of ddim/dpmpp) to [-1, 1]
    # reflow (``genlab distill RUN --method reflow``; Liu et al. 2022, sec. 2.3): a student of
    # the flow-matching run ``teacher``, trained on pairs (noise eps, the teacher's ODE
    # solution from eps), drawn fresh every step with teacher_solver at teacher_nfe; the
    # student starts from the teacher's weights. "" trains on the data
    teacher: str = ""
    teacher_solver: Literal["euler", "midpoint", "heun", "rk4", "ddim", "dpmpp"] = "dpmpp"
    teacher_nfe: int = ranged(10, lambda v: v >= 1, "at least 1")
    # nll(): log p through the ODE from t = nll_t_min, on bins of uniformly dequantized data
    # with nll_draws importance-weighted draws (genlab.ode.likelihood)
    nll_solver: Literal["euler", "midpoint", "heun", "rk4", "dopri5"] = "dopri5"
    nll_steps: int = ranged(20, lambda v: v >= 1, "at least 1")  # fixed-grid solvers' steps
    # fixed-grid times t_min + (1 - t_min) (i / steps)^nll_spacing: > 1 denser near the data
    nll_spacing: float = ranged(1.0, lambda v: 0 < v <= 8, "in (0, 8]")
    nll_tolerance: float = ranged(1e-4, lambda v: 0 < v < 1, "in (0, 1)")  # dopri5's rtol = atol
    nll_divergence: Literal["exact", "hutchinson"] = "hutchinson"
    nll_probes: int = ranged(1, lambda v: v >= 1, "at least 1")  # Hutchinson's probes
    nll_draws: int = ranged(1, lambda v: v >= 1, "at least 1")  # dequantization draws K
    nll_t_min: float = ranged(0.0, lambda v: 0 <= v < 1, "in [0, 1)")

    def __post_init__(self) -> None:
        check_fields(self, "model.")
        per = EVALS_PER_STEP.get(self.teacher_solver, 1)
        if self.teacher and self.teacher_nfe % per:
            raise ConfigError(
                f"model.teacher_nfe={self.teacher_nfe} with model.teacher_solver="
                f"{self.teacher_solver} ({per} evaluations a step) must be a positive "
                f"multiple of {per}"
            )
