"""Velocity-shaped networks of the continuous-time families (``flowmatch`` and the
``consistency`` students distilled from it): the U-Net for discrete images and, for vector
data (toy2d and other (N, D) data), an MLP on the point and a sinusoidal embedding of the
time, as FFJORD-style toy experiments use (Grathwohl et al. 2019; Lipman et al. 2023,
sec. 6). Both see the time t in [0, 1] as ``TIME_SCALE * t`` (the U-Net's embedding was
built for [0, 1000]), so a student takes its teacher's weights as they are."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.nn.embeddings import sinusoidal_embedding
from genlab.nn.unet import UNet

__all__ = ["TIME_SCALE", "NetworkKeys", "VectorVelocity", "velocity_network"]

TIME_SCALE = 1000.0  # network time = TIME_SCALE * t


class VectorVelocity(nn.Module):
    """``(x (N, D), t (N,) in [0, 1000], y ignored) -> v (N, D)``: ``depth`` hidden layers
    of width ``hidden`` with SiLU on ``[x, embed(t)]`` (``time_dim`` sinusoidal features),
    the last layer started at zero (the flow starts as the identity map)."""

    def __init__(self, dims: int, hidden: int = 256, depth: int = 3, time_dim: int = 32) -> None:
        super().__init__()
        self.time_dim = time_dim
        layers: list[nn.Module] = []
        width = dims + time_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, dims)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = sinusoidal_embedding(t, self.time_dim).to(x.dtype)  # (N, time_dim)
        return self.net(torch.cat([x, emb], 1))


class NetworkKeys(Protocol):
    """The network sizes a continuous-time family's config holds (model.channels, ...)."""

    channels: int
    multipliers: tuple[int, ...]
    blocks: int
    attention: tuple[int, ...]
    dropout: float
    hidden: int
    depth: int


def velocity_network(
    meta: DataMeta, keys: NetworkKeys, *, num_classes: int = 0, family: str = "flowmatch"
) -> nn.Module:
    """The U-Net for discrete images (``num_classes`` > 0: class-conditional), the MLP
    (hidden, depth) for vector data, sized by ``keys``; one ConfigError (naming ``family``)
    for anything else."""
    if not meta.is_image:
        return VectorVelocity(meta.dims, keys.hidden, keys.depth)
    if meta.levels is None:
        raise ConfigError(
            f"the {family} family needs discrete images or vectors; {meta.name} is neither"
        )
    if any(a >= len(keys.multipliers) for a in keys.attention):
        raise ConfigError(
            f"model.attention levels must be in 0..{len(keys.multipliers) - 1}, got "
            f"{keys.attention}"
        )
    c = meta.shape[0]
    return UNet(
        c,
        c,
        channels=keys.channels,
        multipliers=keys.multipliers,
        blocks=keys.blocks,
        attention=keys.attention,
        dropout=keys.dropout,
        num_classes=num_classes,
    )
