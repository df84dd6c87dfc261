"""Preset flows: ``realnvp``, ``glow`` and ``nsf`` builders over the transforms.

Every builder returns one shape-preserving :class:`Transform` from model space (the
logit of the dequantized data, or the raw vectors) to the standard-normal base.
Images of more than :data:`FLAT_MAX` values (28x28, 3x32x32) get multi-scale flows
whose conditioners never run at full resolution; smaller ones (8x8 digits) and
vectors get couplings on the flattened values.

- multi-scale (:func:`multiscale`; RealNVP sec. 3.6, Glow fig. 2b): each level
  squeezes (C, H, W) -> (4C, H/2, W/2), runs its steps, factors half the channels out
  (Split) and recurses on the rest, until ``cfg.scales`` levels or an odd side.
- realnvp (Dinh et al. 2017): vectors and small images: affine couplings with MLP
  conditioners (alternating masks, or half masks after random permutations); images
  with conv conditioners: multi-scale, per level checkerboard then channel-wise affine
  couplings. ActNorm before every coupling.
- glow (Kingma & Dhariwal 2018): multi-scale, steps of ActNorm -> invertible 1x1 conv
  -> channel-wise affine coupling.
- nsf (Durkan et al. 2019): vectors and small images: flattened, steps of ActNorm ->
  rational-quadratic spline coupling (MLP conditioner) -> fixed random permutation;
  large images: glow's multi-scale steps with spline couplings and conv conditioners
  (the paper's image flows, sec. 5.3), not an MLP over every value (20M parameters
  at 28x28 with 256 hidden units). ``model.conditioner`` overrides the size rule as
  for realnvp (``mlp``: flattened, as zuko's and nflows' NSF; ``conv``: multi-scale).
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
    gatherable,
    half_mask,
)
from genlab.nn import MLP, ConvResNet

__all__ = [
    "FLAT_MAX",
    "build_flow",
    "conv_conditioner",
    "glow_image",
    "mlp_conditioner",
    "multiscale",
    "nsf_image",
    "realnvp_image",
]

Conditioner = Callable[[int, int], nn.Module]  # (in, out) channels or features -> network
Steps = Callable[[int, int, int], list[Transform]]  # a level's (C, H, W) -> its steps

# images of at most this many values are flattened (MLP conditioners: on 8x8 digits a
# conv net costs 20x an MLP); larger ones are multi-scale with conv conditioners
FLAT_MAX = 256


def conv_conditioner(cfg: Any, context_channels: int = 0) -> Conditioner:
    """(in channels, out channels) -> a small residual conv net (zero-init output)."""

    def make(c_in: int, c_out: int) -> nn.Module:
        return ConvResNet(
            c_in + context_channels,
            c_out,
            hidden=cfg.channels,
            blocks=cfg.blocks,
            dropout=cfg.dropout,
            norm=cfg.norm,
        )

    return make


def mlp_conditioner(cfg: Any, context_features: int = 0) -> Conditioner:
    """(in features, out features) -> an MLP (zero-init output)."""

    def make(d_in: int, d_out: int) -> nn.Module:
        return MLP(
            d_in + context_features, d_out, hidden=cfg.hidden, depth=cfg.blocks, dropout=cfg.dropout
        )

    return make


def multiscale(shape: tuple[int, ...], steps: Steps, scales: int) -> Transform:
    """Levels of ``Squeeze -> steps(4C, H/2, W/2) -> Split(next level) -> Unsqueeze``
    on (C, H, W), each keeping half its channels for the next, until ``scales`` levels or
    an odd side; shape-preserving, so factored-out values meet the base where they are."""

    def level(c: int, h: int, w: int, depth: int) -> Transform:
        c2, h2, w2 = 4 * c, h // 2, w // 2
        layers: list[Transform] = [Squeeze(), *steps(c2, h2, w2)]
        if depth + 1 < scales and h2 % 2 == 0 and w2 % 2 == 0:
            keep = c2 // 2
            layers.append(Split(level(keep, h2, w2, depth + 1), keep=keep))
        layers.append(Unsqueeze())
        return Compose(*layers)

    c, h, w = shape
    if h % 2 or w % 2:
        raise ValueError(f"a multi-scale flow needs even image sides, got {shape}")
    return level(c, h, w, 0)


def _checkerboard_steps(
    c: int, h: int, w: int, n: int, cfg: Any, cond: Conditioner
) -> list[Transform]:
    layers: list[Transform] = []
    gather = cfg.checker == "gather" and gatherable(h, w)
    for i in range(n):
        mask = checkerboard_mask(c, h, w, parity=i % 2)
        coupling = AffineCoupling(mask, cond(c, 2 * c), scale_bound=cfg.scale_bound, gather=gather)
        layers += [ActNorm(c), coupling]
    return layers


def realnvp_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner) -> Transform:
    """Multi-scale; per level ``cfg.steps`` couplings, the first half (rounded up)
    checkerboard, the rest channel-wise (RealNVP's order, with the squeeze first so that
    no conditioner runs at full resolution, and as many couplings per level as glow).
    Odd sides cannot squeeze: ``cfg.steps`` checkerboard couplings at full resolution."""
    c, h, w = shape
    if h % 2 or w % 2:
        return Compose(*_checkerboard_steps(c, h, w, cfg.steps, cfg, cond))

    def steps(c: int, h: int, w: int) -> list[Transform]:
        layers = _checkerboard_steps(c, h, w, (cfg.steps + 1) // 2, cfg, cond)
        for i in range(cfg.steps // 2):
            mask = channel_mask(c, h, w, flip=bool(i % 2))
            net = cond(*conditioner_sizes(mask, 2))
            coupling = AffineCoupling(mask, net, scale_bound=cfg.scale_bound)
            layers += [ActNorm(c), coupling]
        return layers

    return multiscale(shape, steps, cfg.scales)


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


def glow_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner) -> Transform:
    """Multi-scale; per level ``cfg.steps`` of ActNorm -> 1x1 conv -> affine coupling."""
    g = torch.Generator().manual_seed(0)

    def steps(c: int, h: int, w: int) -> list[Transform]:
        layers: list[Transform] = []
        for _ in range(cfg.steps):
            mask = channel_mask(c, h, w, flip=False)
            net = cond(*conditioner_sizes(mask, 2))
            coupling = AffineCoupling(mask, net, scale_bound=cfg.scale_bound)
            layers += [ActNorm(c), InvertibleConv1x1(c, generator=g), coupling]
        return layers

    return multiscale(shape, steps, cfg.scales)


def nsf_image(shape: tuple[int, ...], cfg: Any, cond: Conditioner) -> Transform:
    """Multi-scale; per level ``cfg.steps`` of ActNorm -> 1x1 conv -> spline coupling
    (``3 bins - 1`` parameters per transformed value from a conv conditioner)."""
    g = torch.Generator().manual_seed(0)
    per = 3 * cfg.bins - 1

    def steps(c: int, h: int, w: int) -> list[Transform]:
        layers: list[Transform] = []
        for _ in range(cfg.steps):
            mask = channel_mask(c, h, w, flip=False)
            net = cond(*conditioner_sizes(mask, per))
            coupling = SplineCoupling(mask, net, bins=cfg.bins, bound=cfg.tail_bound)
            layers += [ActNorm(c), InvertibleConv1x1(c, generator=g), coupling]
        return layers

    return multiscale(shape, steps, cfg.scales)


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


def _flat(shape: tuple[int, ...], inner: Transform) -> Transform:
    """``inner`` on the flattened image, the result reshaped back."""
    return Compose(Flatten(shape), inner, Inverse(Flatten(shape)))


def build_flow(preset: str, shape: tuple[int, ...], cfg: Any, context: int = 0) -> Transform:
    """The preset's transform for data of ``shape``; ``context`` extra conditioner inputs."""
    is_image = len(shape) == 3
    dims = 1
    for s in shape:
        dims *= s
    large = is_image and dims > FLAT_MAX
    if preset == "nsf":
        even = is_image and shape[1] % 2 == 0 and shape[2] % 2 == 0
        if even and (cfg.conditioner == "conv" or (cfg.conditioner == "auto" and large)):
            return nsf_image(shape, cfg, conv_conditioner(cfg, context))
        inner = nsf_vector(dims, cfg, mlp_conditioner(cfg, context))
        return _flat(shape, inner) if is_image else inner
    if preset == "realnvp":
        if is_image and (cfg.conditioner == "conv" or (cfg.conditioner == "auto" and large)):
            return realnvp_image(shape, cfg, conv_conditioner(cfg, context))
        if is_image:  # checkerboard or permuted half masks on the flattened image, MLPs
            return _flat(shape, realnvp_flat_image(shape, cfg, mlp_conditioner(cfg, context)))
        return realnvp_vector(dims, cfg, mlp_conditioner(cfg, context))
    if preset == "glow":
        if not is_image:
            raise ValueError("the glow preset is multi-scale and needs images; use realnvp or nsf")
        return glow_image(shape, cfg, conv_conditioner(cfg, context))
    raise ValueError(f"unknown flow preset {preset!r}")
