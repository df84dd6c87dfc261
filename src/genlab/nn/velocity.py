"""The velocity network for vector data (toy2d and other (N, D) data): an MLP on the point
and a sinusoidal embedding of the time, as FFJORD-style toy experiments use (Grathwohl et
al. 2019; Lipman et al. 2023, sec. 6); images use the diffusion family's U-Net."""

from __future__ import annotations

import torch
from torch import nn

from genlab.nn.embeddings import sinusoidal_embedding

__all__ = ["VectorVelocity"]


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
