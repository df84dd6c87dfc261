"""Convolutional encoder (image -> vector) and decoder (vector -> image) of any size.

Each level halves the spatial size with a stride-2 3x3 conv (rounding up, so 28 -> 14
-> 7 and 8 -> 4 -> 2) and doubles the channels; the decoder mirrors it with nearest
upsampling to the encoder's exact sizes, so odd sizes come back exactly. Used by the
VAE (``model.network=conv``) and as the backbone of the representation models.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.conv import ResidualBlock
from genlab.nn.dropout import Dropout

__all__ = ["ConvDecoder", "ConvEncoder", "level_sizes"]


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Spatial sizes from the input down: ``[(H, W), (ceil(H/2), ceil(W/2)), ...]``."""
    sizes = [(height, width)]
    for _ in range(levels):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ConvEncoder(nn.Module):
    """(N, C, H, W) -> (N, out_features): a 3x3 conv to ``channels`` (stride ``stem``:
    2 halves a 28x28 image before any block, a quarter of the arithmetic), then per level
    ``blocks`` residual blocks and a stride-2 conv doubling the channels, then a linear
    map of the flattened last feature map (dropout before it)."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        out_features: int,
        channels: int = 32,
        levels: int = 2,
        blocks: int = 1,
        dropout: float = 0.0,
        stem: int = 1,
    ) -> None:
        super().__init__()
        if stem not in (1, 2):
            raise ValueError(f"the stem's stride is 1 or 2, got {stem}")
        c, h, w = shape
        self.first = nn.Conv2d(c, channels, 3, stride=stem, padding=1)
        if stem == 2:
            h, w = level_sizes(h, w, 1)[-1]
        stages: list[nn.Module] = []
        width = channels
        for _ in range(levels):
            stages += [ResidualBlock(width, dropout) for _ in range(blocks)]
            stages += [nn.ReLU(), nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)]
            width *= 2
        self.body = nn.Sequential(*stages, nn.ReLU())
        last_h, last_w = level_sizes(h, w, levels)[-1]
        self.features = width * last_h * last_w
        self.drop = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.last = nn.Linear(self.features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, out_features)."""
        h = self.body(self.first(x)).flatten(1)  # (N, width * h_L * w_L)
        return self.last(self.drop(h))


class ConvDecoder(nn.Module):
    """(N, in_features) -> (N, out_channels, H, W): a linear map to the encoder's last
    feature map, then per level nearest upsampling to the next size, a 3x3 conv halving
    the channels and ``blocks`` residual blocks, then norm, ReLU and a 3x3 output conv."""

    def __init__(
        self,
        in_features: int,
        shape: tuple[int, int, int],
        out_channels: int,
        channels: int = 32,
        levels: int = 2,
        blocks: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _, h, w = shape
        self.sizes = level_sizes(h, w, levels)[::-1]  # smallest first
        width = channels * 2**levels
        self.start = (width, *self.sizes[0])
        self.first = nn.Linear(in_features, width * self.sizes[0][0] * self.sizes[0][1])
        self.ups = nn.ModuleList()
        for _ in range(levels):
            stage = [nn.ReLU(), nn.Conv2d(width, width // 2, 3, padding=1)]
            width //= 2
            stage += [ResidualBlock(width, dropout) for _ in range(blocks)]
            self.ups.append(nn.Sequential(*stage))
        self.head = nn.Sequential(nn.GroupNorm(math.gcd(8, width), width), nn.ReLU())
        self.last = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, in_features) -> (N, out_channels, H, W)."""
        h = self.first(z).view(len(z), *self.start)
        for size, stage in zip(self.sizes[1:], self.ups, strict=True):
            h = stage(F.interpolate(h, size=size, mode="nearest"))
        return self.last(self.head(h))
