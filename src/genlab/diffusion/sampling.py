"""The diffusion family's sampling options: what ``genlab sample RUN key=value`` sets.

Each field is a keyword of ``DiffusionModel.sample`` with the same default; None means
the model's own choice (``model.sampler``, ``model.sample_steps``, ``model.guidance``,
the sampler's grid spacing in ``samplers.DEFAULT_SPACING``, DDIM's eta of 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import check_fields, ranged

__all__ = ["DiffusionSampling"]


@dataclass(frozen=True)
class DiffusionSampling:
    """``sampler``: ddpm (ancestral), ddim, dpmpp (DPM-Solver++ 2M) or oneshot (E[x_0 |
    x_T], one call); ``steps``: network evaluations (at most ``model.timesteps``);
    ``eta``: DDIM's noise, 0 deterministic, 1 the ancestral variance (ddim only);
    ``spacing``: the timestep grid; ``guidance``: classifier-free guidance scale w (1:
    plain conditional, 0: unconditional); ``label``: the class of every sample
    (class-conditional models)."""

    sampler: Literal["ddpm", "ddim", "dpmpp", "oneshot"] | None = None
    steps: int | None = ranged(None, lambda v: v >= 1, "at least 1")
    eta: float | None = ranged(None, lambda v: v >= 0, "at least 0 (0: deterministic DDIM)")
    spacing: Literal["uniform", "quadratic", "logsnr"] | None = None
    guidance: float | None = ranged(None, lambda v: v >= 0, "at least 0 (1: no guidance)")
    label: int | None = ranged(None, lambda v: v >= 0, "at least 0")

    def __post_init__(self) -> None:
        check_fields(self)
