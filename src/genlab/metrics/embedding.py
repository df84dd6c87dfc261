"""Embeddings of a representation model (its ``embed`` contract) and the names of the
embedding metrics.

``recall@K`` and ``map@r``: leave-one-out retrieval among the TEST images (restricted
to ``data.classes`` when set, e.g. classes never seen in training). ``probe`` and
``knn`` (metrics/probe.py) fit on the TRAIN split's frozen embeddings and score TEST.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import torch

__all__ = [
    "EMBEDDING_METRICS",
    "accuracy",
    "SupportsEmbed",
    "embed_all",
    "is_embedding_metric",
    "retrieval_metrics",
]

EMBEDDING_METRICS = ("recall@K", "map@r", "probe", "knn", "accuracy")
_RECALL = re.compile(r"recall@([1-9][0-9]*)$")


class SupportsEmbed(Protocol):
    """Anything with ``embed(x) -> (N, d)`` (the representation-model contract)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor: ...


def is_embedding_metric(name: str) -> bool:
    """Whether ``name`` is ``recall@K`` (K >= 1), ``map@r``, ``probe``, ``knn`` or
    ``accuracy`` (a classifier's own predictions)."""
    return name in ("map@r", "probe", "knn", "accuracy") or _RECALL.match(name) is not None


def embed_all(model: SupportsEmbed, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Embeddings (N, d) of data (N, ...) in float32 on the CPU, in eval mode, batched."""
    device = _device(model)
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            parts.append(model.embed(x[start : start + batch_size].to(device)).float().cpu())
    if isinstance(model, torch.nn.Module):
        model.train(was_training)
    return torch.cat(parts)


def accuracy(model: Any, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> float:
    """Share of ``model.predict`` (data (N, ...) -> classes (N,)) equal to ``y``."""
    device = _device(model)
    hits = 0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            pred = model.predict(x[start : start + batch_size].to(device)).cpu()
            hits += int((pred == y[start : start + batch_size]).sum())
    return hits / len(x)


def retrieval_metrics(
    embeddings: torch.Tensor, labels: torch.Tensor, metrics: Sequence[str]
) -> dict[str, float]:
    """The ``recall@K`` and ``map@r`` entries of ``metrics``: leave-one-out retrieval
    among ``embeddings`` (N, d) with ``labels`` (N,)."""
    from genlab.metrics.retrieval import retrieval_scores

    wanted = [m for m in metrics if m == "map@r" or _RECALL.match(m)]
    if not wanted:
        return {}
    ks = sorted({int(m.split("@")[1]) for m in wanted if m.startswith("recall@")})
    scores = retrieval_scores(embeddings, labels, ks=ks or (1,))
    return {m: scores[m] for m in wanted}


def _device(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")
