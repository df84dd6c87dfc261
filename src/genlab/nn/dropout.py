"""Dropout drawn from ``torch.rand`` (Srivastava et al. 2014).

Same distribution as ``nn.Dropout`` (each unit kept with probability 1 - p, scaled by
1 / (1 - p) in training, identity in eval), but on CPU ``rand_like`` + compare is
several times faster than the ``bernoulli_`` kernel that ``nn.Dropout`` uses: on the
digits RealNVP it took a quarter of each training step.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Dropout"]


class Dropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        assert 0.0 <= p < 1.0, p
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
