"""Leave-one-out retrieval among labelled embeddings: Recall@k and MAP@R.

Each embedding in turn is a query against all the others (itself excluded).
Recall@k follows the metric-learning convention (Song et al. 2016, "Deep Metric
Learning via Lifted Structured Feature Embedding"): 1 when any of the k nearest
neighbours shares the query's label. MAP@R is from Musgrave et al. 2020,
"A Metric Learning Reality Check", Sec. 3.2.

Ranking is deterministic: neighbours are ordered by distance, ties by lower
index (what a stable sort gives). Distances are those of :mod:`genlab.metrics.distances`
(a :class:`~genlab.metrics.distances.Distance` or its name), computed in float64,
``chunk_size`` queries at a time, so memory is O(chunk_size * N), never N x N.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from genlab.metrics.distances import Distance, DistanceName, as_distance

__all__ = [
    "average_precisions",
    "map_at_r",
    "nearest_neighbours",
    "recall_at_k",
    "retrieval_scores",
]

_CHUNK = 1024


def _k_smallest(dist: torch.Tensor, k: int) -> torch.Tensor:
    """(C, k) column indices of the k smallest entries of each row of dist (C, N).

    Ordered by (distance, index): equal distances go to the lower index, the
    order a stable sort gives, at the cost of ``topk`` rather than a full sort.
    """
    threshold = dist.topk(k, dim=1, largest=False).values[:, -1:]  # (C, 1): k-th smallest
    below = dist < threshold
    tied = dist == threshold
    room = k - below.sum(dim=1, keepdim=True)  # (C, 1): how many ties fit, lowest index first
    chosen = below | (tied & (tied.cumsum(dim=1) <= room))  # (C, N), k per row
    idx = chosen.nonzero()[:, 1].view(len(dist), k)  # (C, k) in index order
    order = dist.gather(1, idx).sort(dim=1, stable=True).indices
    return idx.gather(1, order)


def _neighbour_chunks(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    distance: Distance | DistanceName,
    chunk_size: int,
    exclude_self: bool,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start, (C, k) indices into keys of the k nearest) for queries[start : start + C]."""
    measure = as_distance(distance)
    for start in range(0, len(queries), chunk_size):
        dist = measure.pairwise(queries[start : start + chunk_size], keys)  # (C, N)
        if exclude_self:
            rows = torch.arange(len(dist), device=dist.device)
            dist[rows, rows + start] = torch.inf  # never chosen, as k < N
        yield start, _k_smallest(dist, k)


def nearest_neighbours(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    distance: Distance | DistanceName = "euclidean",
    chunk_size: int = _CHUNK,
    exclude_self: bool = False,
) -> torch.Tensor:
    """(Q, k) long: indices of the k nearest keys (N, D) to each query (Q, D), nearest first.

    Ties in distance go to the lower key index. ``exclude_self=True`` means
    ``queries`` is ``keys`` and query i may not retrieve key i.
    """
    queries, keys = _checked(queries), _checked(keys)
    assert not exclude_self or len(queries) == len(keys), (len(queries), len(keys))
    limit = len(keys) - int(exclude_self)
    if not 1 <= k <= limit:
        raise ValueError(f"k must be between 1 and {limit} (the number of candidates), got {k}")
    chunks = _neighbour_chunks(
        queries, keys, k, distance=distance, chunk_size=chunk_size, exclude_self=exclude_self
    )
    return torch.cat([idx for _, idx in chunks])


def recall_at_k(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    ks: Sequence[int] = (1,),
    *,
    distance: Distance | DistanceName = "euclidean",
    chunk_size: int = _CHUNK,
) -> dict[int, float]:
    """{k: Recall@k} of embeddings (N, D) with labels (N,), each in [0, 1].

    Recall@k = mean over queries of 1[some of the k nearest others has the
    query's label]. Queries alone in their class cannot be answered and are
    skipped, as for MAP@R.
    """
    scores = _scores(embeddings, labels, ks, False, distance, chunk_size)
    return {k: scores[f"recall@{k}"] for k in sorted(set(ks))}


def map_at_r(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    distance: Distance | DistanceName = "euclidean",
    chunk_size: int = _CHUNK,
) -> float:
    """MAP@R of embeddings (N, D) with labels (N,), in [0, 1] (Musgrave et al. 2020, Sec. 3.2).

    For a query with R other items of its label, retrieve its R nearest others:
    ``AP@R = (1/R) sum_{i=1..R} P(i) rel(i)``, with ``P(i)`` the precision among
    the first i and ``rel(i)`` whether the i-th is of the query's label. MAP@R
    is the mean over queries with R > 0.
    """
    return _scores(embeddings, labels, (), True, distance, chunk_size)["map@r"]


def average_precisions(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    distance: Distance | DistanceName = "euclidean",
    chunk_size: int = _CHUNK,
) -> torch.Tensor:
    """(Q,) float64 AP@R of each query with R > 0, in index order; their mean is
    :func:`map_at_r`. Two embeddings of the same items give paired APs, whose per-query
    difference has a smaller standard error than the two MAP@Rs' SEs combined."""
    return _scores(embeddings, labels, (), True, distance, chunk_size)["ap@r"]


def retrieval_scores(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    ks: Sequence[int] = (1,),
    distance: Distance | DistanceName = "euclidean",
    chunk_size: int = _CHUNK,
) -> dict[str, float]:
    """{"recall@k": ... for k in ks, "map@r": ..., "map@r_se": ...} of embeddings (N, D)
    with labels (N,); ``map@r_se`` is the standard error of the mean over queries.

    One pass over the distances for all of them; see :func:`recall_at_k` and
    :func:`map_at_r`.
    """
    scores = _scores(embeddings, labels, ks, True, distance, chunk_size)
    del scores["ap@r"]
    return scores


def _scores(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    ks: Sequence[int],
    with_map: bool,
    distance: Distance | DistanceName,
    chunk_size: int,
) -> dict[str, float]:
    """Recall@k for k in ks (and MAP@R if with_map), from the chunked neighbour lists."""
    embeddings = _checked(embeddings)
    labels = _checked_labels(embeddings, labels)
    ks = sorted(set(ks))
    if ks and not 1 <= ks[0] <= ks[-1] <= len(embeddings) - 1:
        raise ValueError(f"every k must be between 1 and N - 1 = {len(embeddings) - 1}, got {ks}")
    r = _class_sizes(labels) - 1  # (N,): R, the other items of the query's label
    if not (r > 0).any():
        raise ValueError("retrieval needs a label shared by at least two embeddings")
    if not ks and not with_map:
        raise ValueError("ks is empty; give at least one k, e.g. ks=(1,)")
    depth = max([*ks, int(r.max())] if with_map else ks)  # neighbours needed per query
    hits = dict.fromkeys(ks, 0)
    aps: list[torch.Tensor] = []
    chunks = _neighbour_chunks(
        embeddings, embeddings, depth, distance=distance, chunk_size=chunk_size, exclude_self=True
    )
    for start, idx in chunks:
        r_chunk = r[start : start + len(idx)]  # (C,)
        rel = labels[idx] == labels[start : start + len(idx), None]  # (C, depth)
        hit_within = rel.cummax(dim=1).values[r_chunk > 0]  # (C', depth): a hit among first j+1
        for k in ks:
            hits[k] += int(hit_within[:, k - 1].sum())
        if with_map:
            aps.append(_average_precision_at_r(rel, r_chunk)[r_chunk > 0].cpu())
    queries = int((r > 0).sum())
    scores: dict[str, Any] = {f"recall@{k}": hits[k] / queries for k in ks}
    if with_map:
        per_query = torch.cat(aps)  # (queries,)
        scores["map@r"] = float(per_query.mean())
        # SE of the mean over queries (a query's AP is its own item; 0 with one query)
        scores["map@r_se"] = float(per_query.std() / queries**0.5) if queries > 1 else 0.0
        scores["ap@r"] = per_query
    return scores


def _average_precision_at_r(rel: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(C,) AP@R from rel (C, depth) bool of ranked neighbours and R (C,); 0 where R = 0."""
    positions = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64, device=rel.device)  # i
    rel = rel & (positions <= r[:, None])  # only the first R count
    precision = rel.double().cumsum(dim=1) / positions  # P(i)
    return (precision * rel).sum(dim=1) / r.clamp(min=1)


def _checked(embeddings: torch.Tensor) -> torch.Tensor:
    """Embeddings (N, D) as float64, or a one-line error."""
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {tuple(embeddings.shape)}")
    if not torch.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or infinite values; check the encoder")
    return embeddings.detach().double()


def _checked_labels(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Labels (N,) on the device of embeddings (N, D), or a one-line error."""
    if labels.shape != (len(embeddings),):
        raise ValueError(f"labels must be ({len(embeddings)},), got shape {tuple(labels.shape)}")
    return labels.to(embeddings.device)


def _class_sizes(labels: torch.Tensor) -> torch.Tensor:
    """(N,) number of items sharing each item's label (itself included)."""
    _, inverse, counts = labels.unique(return_inverse=True, return_counts=True)
    return counts[inverse]
