"""Bits per dimension: the one unit in which every likelihood model is compared.

A model's ``nll(x)`` returns the per-example negative log-likelihood in nats of
the discrete data (exact for flows with their dequantization bound, an
importance-sampled bound for VAEs, the variational bound for diffusion). Dividing
by ``D ln 2`` gives bits per dimension (Theis et al. 2016, "A note on the
evaluation of generative models", Sec. 3.1).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from genlab.data.dataset import DataMeta

__all__ = ["SupportsNLL", "bits_per_dim", "model_bits_per_dim"]


class SupportsNLL(Protocol):
    """Anything with ``nll(x) -> (N,)`` nats per example (the generative-model contract)."""

    def nll(self, x: torch.Tensor) -> torch.Tensor: ...


def bits_per_dim(nll_nats: torch.Tensor, meta: DataMeta) -> float:
    """Mean bits/dim of per-example NLLs: ``mean(nll) / (D ln 2)``.

    Args:
        nll_nats: (N,) negative log-likelihoods in nats, one per example.
        meta: the data's metadata; ``D = meta.dims`` (C*H*W or the vector size).

    For discrete data (``meta.levels`` set) this is the bits/dim of the discrete
    probability. For continuous data (``levels=None``) the same formula gives
    the differential entropy estimate in bits/dim, which can be negative and is
    not comparable with discrete numbers.
    """
    assert nll_nats.dim() == 1 and nll_nats.numel() > 0, tuple(nll_nats.shape)
    return float(nll_nats.double().mean()) / (meta.dims * math.log(2.0))


def model_bits_per_dim(
    model: SupportsNLL,
    x: torch.Tensor,
    meta: DataMeta,
    *,
    batch_size: int = 500,
    device: torch.device | str | None = None,
) -> float:
    """Bits/dim of ``model`` on data ``x`` (N, *meta.shape), evaluated in batches.

    ``x`` holds values as the dataset gives them; each batch is moved to ``device``
    (default: the model's parameter device, else CPU) and passed to ``model.nll``
    under ``torch.inference_mode`` (no autograd bookkeeping). Continuous data give
    differential bits/dim (see :func:`bits_per_dim`).
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            nll = model.nll(x[start : start + batch_size].to(dev))
            parts.append(nll.detach().double().cpu())
    return bits_per_dim(torch.cat(parts), meta)


def _model_device(model: object) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")
