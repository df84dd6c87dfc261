"""Distances between embeddings: smaller = closer, always.

The one definition used by the metric-learning losses and miners (``genlab.metric``),
by retrieval and k-NN probes (``genlab.metrics.retrieval``, ``genlab.metrics.probe``) and
by the studies. A distance is a small frozen object with two methods (the
:class:`Distance` protocol): ``pairwise(a, b)`` gives the (N, M) matrix between two sets
and ``paired(a, b)`` the (N,) distances between matching rows. Miners and losses take
one as a constructor argument; two distances compare equal when they compute the
same thing (``Euclidean() == Euclidean()``). Configs name them (``"euclidean"``,
``"cosine"``): :func:`as_distance` turns a name into the object.

- :class:`Euclidean`: ``|a - b|_2`` (or its square with ``squared=True``).
- :class:`Cosine`: ``1 - cos(a, b)`` in [0, 2]; embeddings are L2-normalised first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch
import torch.nn.functional as F

__all__ = [
    "DISTANCES",
    "Cosine",
    "Distance",
    "DistanceName",
    "Euclidean",
    "as_distance",
    "cosine_paired",
    "cosine_pairwise",
    "cosine_similarity",
    "euclidean_paired",
    "euclidean_pairwise",
]

_NORM_EPS = 1e-12  # F.normalize's floor: a zero embedding stays zero (cosine 0 to everything)


class Distance(Protocol):
    """A dissimilarity between embeddings where smaller means closer."""

    def pairwise(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """(N, M) distances between the rows of ``a`` (N, D) and ``b`` (M, D).

        ``b=None`` means ``b = a``; the diagonal is then exactly 0.
        """
        ...

    def paired(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N,) distances between ``a[i]`` and ``b[i]``, both (N, D)."""
        ...


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt of max(x, 0) whose gradient at 0 is 0 instead of inf (the subgradient)."""
    # the clamp keeps sqrt's backward finite on the branch that torch.where discards
    root = x.clamp_min(torch.finfo(x.dtype).tiny).sqrt()
    return torch.where(x > 0, root, 0.0)


def euclidean_pairwise(
    a: torch.Tensor, b: torch.Tensor | None = None, *, squared: bool = False
) -> torch.Tensor:
    """(N, M) Euclidean distances ``|a_i - b_j|`` between a (N, D) and b (M, D).

    Uses ``|a|^2 + |b|^2 - 2 a.b`` (one matrix product), clamped at 0 against
    round-off; with ``b=None`` the diagonal is set to exactly 0. The square root
    has gradient 0 at distance 0, so duplicate embeddings give finite gradients.
    """
    same = b is None
    b = a if b is None else b
    assert a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[1], (a.shape, b.shape)
    norms = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :]  # (N, M)
    sq = torch.addmm(norms, a, b.T, alpha=-2.0)  # may dip below 0 by round-off
    d = sq.clamp_min(0.0) if squared else _safe_sqrt(sq)
    return d.fill_diagonal_(0.0) if same else d


def euclidean_paired(a: torch.Tensor, b: torch.Tensor, *, squared: bool = False) -> torch.Tensor:
    """(N,) Euclidean distances ``|a_i - b_i|`` between a and b, both (N, D)."""
    assert a.shape == b.shape and a.dim() == 2, (a.shape, b.shape)
    sq = (a - b).pow(2).sum(1)
    return sq if squared else _safe_sqrt(sq)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """(N, M) cosine similarities ``a_i.b_j / (|a_i| |b_j|)`` in [-1, 1]."""
    b = a if b is None else b
    assert a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[1], (a.shape, b.shape)
    return F.normalize(a, dim=1, eps=_NORM_EPS) @ F.normalize(b, dim=1, eps=_NORM_EPS).T


def cosine_pairwise(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """(N, M) cosine distances ``1 - cos(a_i, b_j)`` in [0, 2]; diagonal 0 when ``b=None``."""
    d = (1.0 - cosine_similarity(a, b)).clamp(0.0, 2.0)
    return d.fill_diagonal_(0.0) if b is None else d  # in place on a fresh tensor


def cosine_paired(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) cosine distances ``1 - cos(a_i, b_i)`` between a and b, both (N, D)."""
    assert a.shape == b.shape and a.dim() == 2, (a.shape, b.shape)
    cos = (F.normalize(a, dim=1, eps=_NORM_EPS) * F.normalize(b, dim=1, eps=_NORM_EPS)).sum(1)
    return (1.0 - cos).clamp(0.0, 2.0)


@dataclass(frozen=True)
class Euclidean:
    """``|a - b|_2``, or ``|a - b|_2^2`` with ``squared=True``."""

    squared: bool = False

    def pairwise(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return euclidean_pairwise(a, b, squared=self.squared)

    def paired(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return euclidean_paired(a, b, squared=self.squared)


@dataclass(frozen=True)
class Cosine:
    """``1 - cos(a, b)``: the cosine distance of the L2-normalised embeddings, in [0, 2]."""

    def pairwise(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return cosine_pairwise(a, b)

    def paired(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cosine_paired(a, b)


DistanceName = Literal["euclidean", "cosine"]

# the distances a config can name (``model.distance``), each its unsquared form
DISTANCES: dict[str, Distance] = {"euclidean": Euclidean(), "cosine": Cosine()}


def as_distance(distance: Distance | str) -> Distance:
    """``distance`` itself, or the one :data:`DISTANCES` calls by that name."""
    if not isinstance(distance, str):
        return distance
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; use 'euclidean' or 'cosine'")
    return DISTANCES[distance]
