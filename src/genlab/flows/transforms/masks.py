"""Binary masks for coupling layers: 1 marks the kept (conditioning) part, 0 the part
that is transformed. Vector masks have shape (D,), image masks (C, H, W)
(RealNVP, Dinh et al. 2017, sec. 3.4: checkerboard and channel-wise masking)."""

from __future__ import annotations

import torch

__all__ = ["alternating_mask", "channel_mask", "checkerboard_mask", "half_mask"]


def half_mask(d: int, flip: bool = False) -> torch.Tensor:
    """(d,): ones on the first ``d // 2`` features (on the last ``d - d // 2`` if ``flip``)."""
    mask = (torch.arange(d) < d // 2).to(torch.get_default_dtype())
    return 1.0 - mask if flip else mask


def alternating_mask(d: int, parity: int = 0) -> torch.Tensor:
    """(d,): ones where ``(i + parity)`` is even: 1,0,1,0,... for parity 0."""
    return ((torch.arange(d) + parity) % 2 == 0).to(torch.get_default_dtype())


def checkerboard_mask(c: int, h: int, w: int, parity: int = 0) -> torch.Tensor:
    """(c, h, w): ones where ``(i + j + parity)`` is even, the same on every channel."""
    i = torch.arange(h)[:, None]
    j = torch.arange(w)[None, :]
    board = ((i + j + parity) % 2 == 0).to(torch.get_default_dtype())
    return board.expand(c, h, w).clone()


def channel_mask(c: int, h: int, w: int, flip: bool = False) -> torch.Tensor:
    """(c, h, w): ones on the first ``c // 2`` channels (on the others if ``flip``)."""
    assert c >= 2, f"channel masking needs at least 2 channels, got {c}"
    mask = (torch.arange(c) < c // 2).to(torch.get_default_dtype())
    mask = mask[:, None, None].expand(c, h, w).clone()
    return 1.0 - mask if flip else mask
