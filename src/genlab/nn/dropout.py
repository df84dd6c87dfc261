"""Dropout from random bytes (Srivastava et al. 2014).

Same role as ``nn.Dropout``: each unit is kept with probability ``q = 1 - p`` and scaled
by ``1 / q`` in training (so the expectation is unchanged), identity in eval. The mask is
cheaper to draw on CPU: ``nn.Dropout``'s ``bernoulli_`` and even ``rand_like`` spend a
32-bit draw (and a float conversion) per unit, which on the digits RealNVP was a quarter
of each training step; here one 64-bit draw gives 8 units, each kept when its random
byte is at least ``round(256 p)``. So the drop rate is ``p`` rounded to a multiple of
1/256 (0.4 -> 0.3984; :attr:`Dropout.rate`), and the scale uses that exact rate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Dropout", "keep_mask"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def keep_mask(
    shape: torch.Size | tuple[int, ...], threshold: int, like: torch.Tensor
) -> torch.Tensor:
    """A {0, 1}-valued mask of ``shape`` (dtype and device of ``like``): each entry 1
    with probability ``(256 - threshold) / 256``, independently."""
    n = math.prod(shape)
    words = torch.empty((n + 7) // 8, dtype=torch.int64, device=like.device)
    words.random_(_INT64_MIN, _INT64_MAX)  # uniform over (nearly) all 2^64 bit patterns
    rand_bytes = words.view(torch.uint8)[:n].view(shape)
    return (rand_bytes >= threshold).to(like.dtype)


class Dropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        assert 0.0 <= p < 1.0, p
        self.p = p
        self.threshold = min(round(256 * p), 255)
        self.rate = self.threshold / 256  # the drop probability actually used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return x
        mask = keep_mask(x.shape, self.threshold, x).mul_(1.0 / (1.0 - self.rate))
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p} (rate {self.rate:.4f})"
