"""Improved precision and recall of generative models (k-NN manifolds).

Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
generative models", Sec. 3: each set's manifold is the union of balls around its
points with radius the distance to the point's k-th nearest neighbour in the
same set. Precision = share of fake points inside the real manifold (quality);
recall = share of real points inside the fake manifold (diversity).
"""

from __future__ import annotations

import torch

__all__ = ["inside_manifold", "knn_radii", "precision_recall"]

_CHUNK = 2048


def knn_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance from each point of (N, F) to its k-th nearest other point."""
    assert 0 < k < len(points), (k, len(points))
    radii = []
    for chunk in points.split(_CHUNK):
        dist = torch.cdist(chunk, points)  # (chunk, N); the point itself is at distance 0
        radii.append(dist.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def inside_manifold(
    queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor
) -> torch.Tensor:
    """(Q,) bool: whether each query lies in some ball ``|q - p_j| <= radii_j``."""
    hits = []
    for chunk in queries.split(_CHUNK):
        hits.append((torch.cdist(chunk, points) <= radii).any(dim=1))
    return torch.cat(hits)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (M, F) against ``real`` (N, F), both in [0, 1].

    Distances are Euclidean in float64 in the given feature space; ``k`` = 3 as
    in the paper.
    """
    assert real.dim() == 2 and real.shape[1] == fake.shape[1], (real.shape, fake.shape)
    real, fake = real.double(), fake.double()
    precision = inside_manifold(fake, real, knn_radii(real, k)).double().mean()
    recall = inside_manifold(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)
