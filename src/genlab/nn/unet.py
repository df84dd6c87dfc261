"""U-Net noise predictor for the diffusion family (Ronneberger et al. 2015; Ho et al. 2020)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.attention import SelfAttention2d
from genlab.nn.dropout import Dropout
from genlab.nn.embeddings import TimestepEmbedding

__all__ = ["UNet", "UNetResBlock"]


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class UNetResBlock(nn.Module):
    """(N, C_in, H, W), (N, E) -> (N, C_out, H, W): ``skip(x) + conv(drop(act(norm(h)
    (1 + s) + b)))`` with ``h = conv(act(norm(x)))`` and ``(s, b) = Linear(act(emb))``:
    the residual block of DDPM (Ho et al. 2020) with the scale-shift ("adaptive group
    norm") conditioning of Dhariwal & Nichol 2021, sec. 3. The last conv starts at zero,
    so the block starts as its skip path (identity, or a 1x1 conv when C_in != C_out).
    """

    def __init__(
        self, in_channels: int, out_channels: int, emb_dim: int, dropout: float, groups: int
    ) -> None:
        super().__init__()
        self.norm1 = _group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = _group_norm(out_channels, groups)
        self.drop = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        same = in_channels == out_channels
        self.skip = nn.Identity() if same else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W), (N, E) with ``emb`` already through SiLU -> (N, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)  # each (N, C_out, 1, 1)
        h = torch.addcmul(shift, self.norm2(h), scale + 1.0)
        return self.skip(x) + self.conv2(self.drop(F.silu(h)))


class _Level(nn.Module):
    """Residual blocks, each optionally followed by self-attention, at one resolution."""

    def __init__(self, blocks: list[UNetResBlock], attention: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attention = nn.ModuleList(attention)


class UNet(nn.Module):
    """(N, C, H, W) noisy images, (N,) timesteps[, (N,) labels] -> (N, C_out, H, W).

    The DDPM U-Net (Ho et al. 2020, appendix B) with the refinements of Dhariwal & Nichol
    2021 (scale-shift conditioning; ``blocks + 1`` up blocks per level, each concatenating
    one skip). Level ``i`` works at resolution ``H / 2^i`` with ``channels * multipliers[i]``
    channels: ``blocks`` residual blocks on the way down and ``blocks + 1`` on the way up,
    each followed by self-attention when ``i in attention``; a middle block (res,
    attention, res) sits at the lowest resolution. Downsampling is a 3x3 conv of stride 2;
    upsampling is nearest interpolation to the skip's size then a 3x3 conv to the next
    level's width, so odd sizes (28 -> 14 -> 7 -> 4 and back) work.

    The timestep ``t`` (float or long, in [0, 1000]) is embedded sinusoidally, then an MLP
    to ``emb_dim = 4 channels``. With ``num_classes > 0`` a label embedding is added; its
    row ``num_classes`` is the "no label" token of classifier-free guidance (Ho & Salimans
    2022), and ``y=None`` means that token for every example. The network knows nothing
    of noise schedules.

    The defaults are the digits (1 x 8 x 8) model, 1.04M parameters: 24 channels at 8x8,
    48 at 4x4 and 72 at 2x2, attention at 2x2 only. Per parameter, a conv at 2x2 costs
    1/16 of one at 8x8, so the width stays small at full resolution and the parameters
    sit low (``benchmarks/unet_speed.py``: faster than a public 1.0M U-Net on one thread).

    Residual blocks end in a zero conv and attention in a zero projection (each starts as
    its skip path), so the output conv starts small (``out_init_scale`` times the default
    init) rather than zero: at init the gradient reaches those zero layers, and after one
    step every parameter.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        *,
        channels: int = 24,
        multipliers: tuple[int, ...] = (1, 2, 3),
        blocks: int = 1,
        attention: tuple[int, ...] = (2,),
        heads: int = 2,
        dropout: float = 0.1,
        num_classes: int = 0,
        groups: int = 8,
        out_init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        levels = len(multipliers)
        assert all(0 <= i < levels for i in attention), f"attention {attention}, {levels} levels"
        out_channels = in_channels if out_channels is None else out_channels
        self.num_classes = num_classes
        emb_dim = 4 * channels
        self.time_embed = TimestepEmbedding(emb_dim, emb_dim)
        self.label_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None

        def res(c_in: int, c_out: int) -> UNetResBlock:
            return UNetResBlock(c_in, c_out, emb_dim, dropout, groups)

        def attn(c: int, level: int, n: int) -> list[nn.Module]:
            return (
                [SelfAttention2d(c, heads, groups) for _ in range(n)] if level in attention else []
            )

        widths = [channels * m for m in multipliers]
        self.first = nn.Conv2d(in_channels, channels, 3, padding=1)
        skips, c = [channels], channels  # channels of each skip, in push order
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, w in enumerate(widths):
            blocks_i = []
            for _ in range(blocks):
                blocks_i.append(res(c, w))
                c = w
                skips.append(c)
            self.down.append(_Level(blocks_i, attn(w, i, blocks)))
            if i < levels - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = _Level([res(c, c), res(c, c)], [SelfAttention2d(c, heads, groups)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(levels)):
            blocks_i = []
            for _ in range(blocks + 1):
                blocks_i.append(res(c + skips.pop(), widths[i]))
                c = widths[i]
            self.up.append(_Level(blocks_i, attn(c, i, blocks + 1)))
            if i > 0:
                self.upsample.append(nn.Conv2d(c, widths[i - 1], 3, padding=1))
                c = widths[i - 1]
        assert not skips, skips
        self.out_norm = _group_norm(c, groups)
        self.out = nn.Conv2d(c, out_channels, 3, padding=1)
        with torch.no_grad():
            self.out.weight.mul_(out_init_scale)
            self.out.bias.zero_()

    def embed(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """(N,) timesteps, (N,) labels or None -> (N, emb_dim), through SiLU."""
        emb = self.time_embed(t)
        if self.label_embed is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes, dtype=torch.long)
            emb = emb + self.label_embed(y)
        else:
            assert y is None, "this UNet has num_classes=0: build it with num_classes > 0"
        return F.silu(emb)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, C, H, W), (N,) float or long in [0, 1000], (N,) long in [0, num_classes]
        or None -> (N, C_out, H, W)."""
        emb = self.embed(t, y)
        h = self.first(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for j, block in enumerate(level.blocks):
                h = block(h, emb)
                if level.attention:
                    h = level.attention[j](h)
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid.blocks[0](h, emb)
        h = self.mid.attention[0](h)
        h = self.mid.blocks[1](h, emb)
        for i, level in enumerate(self.up):
            for j, block in enumerate(level.blocks):
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
                if level.attention:
                    h = level.attention[j](h)
            if i < len(self.upsample):
                h = F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest")
                h = self.upsample[i](h)
        return self.out(F.silu(self.out_norm(h)))
