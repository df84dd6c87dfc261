"""Sinusoidal embeddings of a scalar (the diffusion timestep) and the small MLP on top."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TimestepEmbedding", "sinusoidal_embedding"]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) -> (N, dim): ``[sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]``
    with ``h = dim // 2`` and frequencies ``w_i = exp(-log(max_period) i / h)``, from 1 down
    to about ``1 / max_period``; an odd ``dim`` gets a last column of zeros.

    The positional encoding of the Transformer (Vaswani et al. 2017, sec. 3.5) used for the
    timestep by DDPM (Ho et al. 2020, appendix B); ``t`` is a float or integer timestep,
    e.g. in [0, 1000], and the result has ``t``'s float dtype (float32 for integers).
    """
    assert t.dim() == 1, f"t must have shape (N,), got {tuple(t.shape)}"
    half = dim // 2
    dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    i = torch.arange(half, device=t.device, dtype=torch.float64)
    freqs = torch.exp(-math.log(max_period) * i / half).to(dtype)
    args = t.to(dtype)[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class TimestepEmbedding(nn.Module):
    """(N,) timesteps -> (N, out_dim): ``Linear -> SiLU -> Linear`` on the sinusoidal
    embedding of size ``dim`` (DDPM, Ho et al. 2020; ``out_dim = 4 dim`` there)."""

    def __init__(self, dim: int, out_dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.max_period = max_period
        self.hidden = nn.Linear(dim, out_dim)
        self.out = nn.Linear(out_dim, out_dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(N,) float or long -> (N, out_dim)."""
        emb = sinusoidal_embedding(t, self.dim, self.max_period)
        return self.out(F.silu(self.hidden(emb)))
