"""A checkerboard's two halves as half-width maps, and back.

On a map (N, C, H, W) with even H and W, the pixels where ``(i + j + parity)`` is even
(:func:`~genlab.flows.transforms.masks.checkerboard_mask`) take one column of each
horizontal pair in every row: column ``(i + parity) % 2`` of the pair in row ``i``.
:func:`checker_split` gathers those into (N, C, H, W/2) and the others into a second
map of the same shape, each pixel staying in its row and pair; :func:`checker_join`
puts them back. A coupling whose conditioner reads the kept half this way runs its
convolutions on half the positions (half the arithmetic of multiplying by the mask and
convolving the full map), which is how normflows and the RealNVP authors' code run
checkerboard couplings.
"""

from __future__ import annotations

import torch

__all__ = ["checker_join", "checker_split", "gatherable"]


def gatherable(h: int, w: int) -> bool:
    """Whether an (h, w) map splits into two (h, w / 2) halves: both sides even."""
    return h % 2 == 0 and w % 2 == 0


def _pairs(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, 2, W/2, 2): row pairs, row in pair, column pairs,
    column in pair."""
    n, c, h, w = x.shape
    assert gatherable(h, w), f"a checkerboard split needs even sides, got {h}x{w}"
    return x.view(n, c, h // 2, 2, w // 2, 2)


def checker_split(x: torch.Tensor, parity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) -> (kept, free), each (N, C, H, W/2): kept where ``(i + j + parity)``
    is even, the rest free."""
    p = _pairs(x)
    a = parity % 2  # the kept column of a pair in even rows; odd rows keep the other
    n, c, h2, _, w2, _ = p.shape
    kept = torch.stack([p[:, :, :, 0, :, a], p[:, :, :, 1, :, 1 - a]], dim=3)
    free = torch.stack([p[:, :, :, 0, :, 1 - a], p[:, :, :, 1, :, a]], dim=3)
    return kept.view(n, c, 2 * h2, w2), free.view(n, c, 2 * h2, w2)


def checker_join(kept: torch.Tensor, free: torch.Tensor, parity: int) -> torch.Tensor:
    """Inverse of :func:`checker_split`: (N, C, H, W/2) twice -> (N, C, H, W)."""
    n, c, h, w2 = kept.shape
    k, f = kept.view(n, c, h // 2, 2, w2), free.view(n, c, h // 2, 2, w2)
    a = parity % 2
    even = (k[:, :, :, 0], f[:, :, :, 0]) if a == 0 else (f[:, :, :, 0], k[:, :, :, 0])
    odd = (f[:, :, :, 1], k[:, :, :, 1]) if a == 0 else (k[:, :, :, 1], f[:, :, :, 1])
    rows = torch.stack([torch.stack(even, dim=-1), torch.stack(odd, dim=-1)], dim=3)
    return rows.view(n, c, h, 2 * w2)
