"""Exponential moving average of a model's weights, kept in a frozen copy of the model."""

from __future__ import annotations

import copy

import torch

__all__ = ["EMA"]


class EMA:
    """``shadow = d * shadow + (1 - d) * param`` after every step, with the decay
    warmed up as ``d_t = min(decay, (1 + t) / (10 + t))`` so early averages are not
    dominated by the random initialisation. Buffers are copied, not averaged.
    ``decay = 0`` makes the shadow a plain copy of the model."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        assert 0.0 <= decay < 1.0, decay
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        src = [p.detach() for p in model.parameters()]
        dst = list(self.model.parameters())
        torch._foreach_lerp_(dst, src, 1.0 - d)
        for b_dst, b_src in zip(self.model.buffers(), model.buffers(), strict=True):
            b_dst.copy_(b_src)
