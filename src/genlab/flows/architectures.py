"""Preset flows: ``realnvp``, ``glow`` and ``nsf`` builders over the transforms.

Every builder returns one shape-preserving :class:`Transform` from model space (the
logit of the dequantized data, or the raw vectors) to the standard-normal base.

- realnvp (Dinh et al. 2017): images: checkerboard affine couplings at full
  resolution, a squeeze, channel-wise couplings; vectors: alternating masks. ActNorm
  before every coupling.
- glow (Kingma & Dhariwal 2018): multi-scale; each level squeezes, runs steps of
  ActNorm -> invertible 1x1 conv -> affine coupling, then factors half the channels
  out (Split) and recurses on the rest.
- nsf (Durkan et al. 2019): data flattened to vectors; steps of ActNorm ->
  rational-quadratic spline coupling -> fixed random permutation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from genlab.flows.transforms import (
    ActNorm,
    AffineCoupling,
    Compose,
    Flatten,
    Inverse,
    InvertibleConv1x1,
    Permutation,
    SplineCoupling,
    Split,
    Squeeze,
    Transform,
    Unsqueeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    conditioner_sizes,
    half_mask,
)
from genlab.nn import MLP, ConvResNet

__all__ = ["build_flow", "conv_conditioner", "mlp_conditioner"]

Conditioner = Callable[[int, int], nn.Module]


def conv_conditioner(cfg: Any, context_channels: int = 0) -> Conditioner:
    """(in channels, out channels) -> a small residual conv net (zero-init output)."""

    def make(c_in: int, c_out: int) -> nn.Module:
        return ConvResNet(
            c_in + context_channels,
            c_out,
            hidden=cfg.channels,
            blocks=cfg.blocks,
            dropout=cfg.dropout,
        )

    return make


def mlp_conditioner(cfg: Any, context_features: int = 0) -> Conditioner:
    """(in features, out features) -> an MLP (zero-init output)."""

    def make(d_in: int, d_out: int) -> nn.Module:
        return MLP(
            d_in + context_features, d_out, hidden=cfg.hidden, depth=cfg.blocks, dropout=cfg.dropout
        )

    return make


def realnvp_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner) -> Transform:
    c, h, w = shape
    layers: list[Transform] = []
    for i in range(cfg.steps):
        mask = checkerboard_mask(c, h, w, parity=i % 2)
        layers += [ActNorm(c), AffineCoupling(mask, cond(c, 2 * c), scale_bound=cfg.scale_bound)]
    if h % 2 == 0 and w % 2 == 0:
        c2, h2, w2 = 4 * c, h // 2, w // 2
        layers.append(Squeeze())
        for i in range(cfg.steps):
            mask = channel_mask(c2, h2, w2, flip=bool(i % 2))
            coupling = AffineCoupling(mask, cond(c2, 2 * c2), scale_bound=cfg.scale_bound)
            layers += [ActNorm(c2), coupling]
        layers.append(Unsqueeze())
    return Compose(*layers)


def realnvp_vector(dims: int, cfg: Any, cond: Conditioner) -> Transform:
    layers: list[Transform] = []
    for i in range(2 * cfg.steps):
        mask = alternating_mask(dims, parity=i % 2)
        coupling = AffineCoupling(
            mask, cond(*conditioner_sizes(mask, 2)), scale_bound=cfg.scale_bound
        )
        layers += [ActNorm(dims), coupling]
    return Compose(*layers)


def realnvp_flat_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner) -> Transform:
    """Couplings on a flattened image with MLP conditioners: checkerboard masks of
    alternating parity, or (``cfg.permute``) half masks after fixed random permutations."""
    dims = shape[0] * shape[1] * shape[2]
    g = torch.Generator().manual_seed(0)
    layers: list[Transform] = []
    for i in range(2 * cfg.steps):
        if cfg.permute:
            mask = half_mask(dims, flip=bool(i % 2))
            layers.append(Permutation.random(dims, g))
        else:
            mask = checkerboard_mask(*shape, parity=i % 2).flatten()
        coupling = AffineCoupling(
            mask, cond(*conditioner_sizes(mask, 2)), scale_bound=cfg.scale_bound
        )
        layers += [ActNorm(dims), coupling]
    return Compose(*layers)


def _glow_steps(
    c: int, h: int, w: int, cfg: Any, cond: Conditioner, g: torch.Generator
) -> list[Transform]:
    steps: list[Transform] = []
    for _ in range(cfg.steps):
        mask = channel_mask(c, h, w, flip=False)
        steps += [
            ActNorm(c),
            InvertibleConv1x1(c, generator=g),
            AffineCoupling(mask, cond(c, 2 * c), scale_bound=cfg.scale_bound),
        ]
    return steps


def glow_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner, levels: int = 0) -> Transform:
    """Levels until the side is odd or ``cfg.scales`` is reached; each one squeezes."""
    g = torch.Generator().manual_seed(0)

    def level(c: int, h: int, w: int, depth: int) -> Transform:
        c2, h2, w2 = 4 * c, h // 2, w // 2
        layers: list[Transform] = [Squeeze(), *_glow_steps(c2, h2, w2, cfg, cond, g)]
        if depth + 1 < cfg.scales and h2 % 2 == 0 and w2 % 2 == 0:
            keep = c2 // 2
            layers.append(Split(level(keep, h2, w2, depth + 1), keep=keep))
        layers.append(Unsqueeze())
        return Compose(*layers)

    c, h, w = shape
    if h % 2 or w % 2:
        raise ValueError(f"glow needs even image sides, got {shape}")
    return level(c, h, w, 0)


def nsf_vector(dims: int, cfg: Any, cond: Conditioner) -> Transform:
    g = torch.Generator().manual_seed(0)
    layers: list[Transform] = []
    per = 3 * cfg.bins - 1
    for i in range(2 * cfg.steps):
        mask = half_mask(dims, flip=bool(i % 2)) if dims > 2 else alternating_mask(dims, i % 2)
        net = cond(*conditioner_sizes(mask, per))
        coupling = SplineCoupling(mask, net, bins=cfg.bins, bound=cfg.tail_bound)
        layers += [ActNorm(dims), coupling]
        if dims > 2:
            layers.append(Permutation.random(dims, g))
    return Compose(*layers)


def build_flow(preset: str, shape: tuple[int, ...], cfg: Any, context: int = 0) -> Transform:
    """The preset's transform for data of ``shape``; ``context`` extra conditioner inputs."""
    is_image = len(shape) == 3
    dims = 1
    for s in shape:
        dims *= s
    if preset == "nsf":
        inner = nsf_vector(dims, cfg, mlp_conditioner(cfg, context))
        return Compose(Flatten(shape), inner, Inverse(Flatten(shape))) if is_image else inner
    if preset == "realnvp":
        use_conv = cfg.conditioner == "conv" or (cfg.conditioner == "auto" and dims > 256)
        if is_image and use_conv:
            return realnvp_image(shape, cfg, conv_conditioner(cfg, context))
        if is_image:  # checkerboard masks on the flattened image, MLP conditioners
            inner = realnvp_flat_image(shape, cfg, mlp_conditioner(cfg, context))
            return Compose(Flatten(shape), inner, Inverse(Flatten(shape)))
        return realnvp_vector(dims, cfg, mlp_conditioner(cfg, context))
    if preset == "glow":
        if not is_image:
            raise ValueError("the glow preset is multi-scale and needs images; use realnvp or nsf")
        return glow_image(shape, cfg, conv_conditioner(cfg, context))
    raise ValueError(f"unknown flow preset {preset!r}")
