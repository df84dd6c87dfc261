"""Bits per dimension: the one unit in which every likelihood model is compared.

A model's ``nll(x)`` returns the per-example negative log-likelihood in nats of
the discrete data (exact for flows with their dequantization bound, an
importance-sampled bound for VAEs, the variational bound for diffusion). Dividing
by ``D ln 2`` gives bits per dimension (Theis et al. 2016, "A note on the
evaluation of generative models", Sec. 3.1).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from tqdm import tqdm

from genlab.data.dataset import DataMeta

__all__ = [
    "BitsPerDim",
    "DescribesNLL",
    "SupportsNLL",
    "bits_per_dim",
    "estimator_of",
    "model_bits_per_dim",
    "model_device",
    "score_bits_per_dim",
]


class SupportsNLL(Protocol):
    """Anything with ``nll(x) -> (N,)`` nats per example (the generative-model contract)."""

    def nll(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class DescribesNLL(Protocol):
    """A model that states how its ``nll`` is estimated, e.g. ``{"estimator":
    "importance sampling", "K": 1000}`` or ``{"estimator": "exact"}`` (JSON-able)."""

    def nll_estimator(self) -> dict[str, object]: ...


def estimator_of(model: object) -> dict[str, object]:
    """The model's own statement of its ``nll`` estimator, or ``{"estimator": "unstated"}``."""
    if isinstance(model, DescribesNLL):
        return dict(model.nll_estimator())
    return {"estimator": "unstated"}


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


@dataclass(frozen=True)
class BitsPerDim:
    """A bits/dim estimate over ``images`` examples with its standard error.

    ``se`` is the standard error of the mean across examples (std / sqrt(N)): for a
    stochastic estimator (importance samples, sampled timesteps) it includes the
    estimator's own noise, since each example's estimate is one independent draw.
    """

    bpd: float
    se: float
    images: int
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {
            "bpd": self.bpd,
            "bpd_se": self.se,
            "bpd_images": float(self.images),
            "bpd_seconds": self.seconds,
        }


def score_bits_per_dim(
    model: SupportsNLL,
    x: torch.Tensor,
    meta: DataMeta,
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    desc: str = "bits/dim",
) -> BitsPerDim:
    """Bits/dim of ``model`` on every example of ``x`` (N, *meta.shape), with its standard
    error, in batches under ``torch.inference_mode``, with a progress bar (images/s, ETA)
    on stderr when ``progress``.

    ``x`` holds values as the dataset gives them; each batch moves to ``device`` (default:
    the model's parameter device). ``batch_size`` defaults to about 32k values a batch
    (500 digits, 40 images of 28x28), so the bar moves and memory stays small.
    """
    dev = torch.device(device) if device is not None else model_device(model)
    size = batch_size or max(1, min(500, 32_768 // max(1, meta.dims)))
    started = time.perf_counter()
    bar = tqdm(
        total=len(x),
        desc=desc,
        unit="img",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 15.0,
        delay=1.0,  # quick calls (and early errors) print no bar
    )
    parts = []
    with bar, torch.inference_mode():
        for start in range(0, len(x), size):
            nll = model.nll(x[start : start + size].to(dev))
            parts.append(nll.detach().double().cpu())
            bar.update(len(parts[-1]))
    per_dim = torch.cat(parts) / (meta.dims * math.log(2.0))
    se = float(per_dim.std() / math.sqrt(len(per_dim))) if len(per_dim) > 1 else math.nan
    return BitsPerDim(float(per_dim.mean()), se, len(per_dim), time.perf_counter() - started)


def model_bits_per_dim(
    model: SupportsNLL,
    x: torch.Tensor,
    meta: DataMeta,
    *,
    batch_size: int = 500,
    device: torch.device | str | None = None,
) -> float:
    """Bits/dim of ``model`` on data ``x`` (N, *meta.shape): :func:`score_bits_per_dim`'s
    mean, without a bar. Continuous data give differential bits/dim (see
    :func:`bits_per_dim`)."""
    return score_bits_per_dim(model, x, meta, batch_size=batch_size, device=device).bpd


def model_device(model: object) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")
