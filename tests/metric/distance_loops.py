"""The distances of genlab.metrics.distances by their definition, one pair at a time in
Python floats: the independent truth of the miner and loss tests (tests/metrics/
test_distances.py checks the library against the same definition)."""

from __future__ import annotations

import math

import torch

from genlab.metrics.distances import Cosine, Distance


def loop_distance(distance: Distance, u: list[float], v: list[float]) -> float:
    if isinstance(distance, Cosine):
        norm_u, norm_v = math.sqrt(sum(a * a for a in u)), math.sqrt(sum(b * b for b in v))
        return 1.0 - sum(a * b for a, b in zip(u, v, strict=True)) / (norm_u * norm_v)
    squared = sum((a - b) ** 2 for a, b in zip(u, v, strict=True))
    return squared if distance.squared else math.sqrt(squared)


def loop_matrix(distance: Distance, x: torch.Tensor, y: torch.Tensor | None = None) -> list[list]:
    rows, cols = x.tolist(), (x if y is None else y).tolist()
    return [[loop_distance(distance, u, v) for v in cols] for u in rows]
