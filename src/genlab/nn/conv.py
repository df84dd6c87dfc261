"""Small residual convolutional network that keeps the spatial size (image conditioners)."""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab.nn.dropout import Dropout

__all__ = ["ConvResNet", "ResidualBlock"]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    assert kind == "group", f"norm must be 'group' or 'none', got {kind!r}"
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ResidualBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016):
    ``x + conv(drop(act(norm(conv(act(norm(x)))))))``, 3x3 convs with padding 1.
    Shape (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, dropout: float = 0.0, norm: str = "group") -> None:
        super().__init__()
        self.net = nn.Sequential(
            _norm(norm, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(norm, channels),
            nn.ReLU(),
            Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ConvResNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W): a 3x3 input conv to ``hidden``
    channels, ``blocks`` residual blocks, then norm, ReLU and a 3x3 output conv.

    ``norm`` is ``"group"`` (GroupNorm, per example, so the network never mixes the
    examples of a batch) or ``"none"``. ``zero_init_last`` makes the output conv start at
    zero so a coupling built on it starts as the identity (Glow, sec. 3.3).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks: int = 2,
        dropout: float = 0.0,
        zero_init_last: bool = True,
        norm: str = "group",
    ) -> None:
        super().__init__()
        self.first = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(hidden, dropout, norm) for _ in range(blocks)))
        self.head = nn.Sequential(_norm(norm, hidden), nn.ReLU())
        self.last = nn.Conv2d(hidden, out_channels, 3, padding=1)
        if zero_init_last:
            nn.init.zeros_(self.last.weight)
            nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H, W)."""
        return self.last(self.head(self.blocks(self.first(x))))
