"""Multi-head self-attention over the pixels of a feature map (the U-Net's attention block)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SelfAttention2d"]


class SelfAttention2d(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): ``x + proj(attention(norm(x)))``, multi-head scaled
    dot-product self-attention (Vaswani et al. 2017, eq. 1) among the ``H W`` positions of
    each example, after a GroupNorm, as in the DDPM U-Net (Ho et al. 2020, appendix B).

    The output projection starts at zero, so the block starts as the identity; ``channels``
    must be a multiple of ``heads``. GroupNorm uses ``gcd(groups, channels)`` groups.
    """

    def __init__(self, channels: int, heads: int = 1, groups: int = 8) -> None:
        super().__init__()
        assert channels % heads == 0, f"channels {channels} not a multiple of heads {heads}"
        self.heads = heads
        self.norm = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        n, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (N, HW, C)
        qkv = self.qkv(tokens).view(n, h * w, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, heads, HW, C / heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, HW, C / heads)
        out = self.proj(out.transpose(1, 2).reshape(n, h * w, c))  # (N, HW, C)
        return x + out.transpose(1, 2).reshape(n, c, h, w)
