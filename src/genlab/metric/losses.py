"""Metric-learning losses: the triplet margin loss and the geometry stress (NT-Xent, shared
with the simclr family, lives below both in :mod:`genlab.nn.contrastive`).

Triplet margin loss (Schroff et al. 2015, "FaceNet", Sec. 3.1):
``relu(d(a,p) - d(a,n) + margin)`` on the triplets a miner picks, averaged over
**all** mined triplets, zeros included (``reduction="mean"``) or summed
(``"sum"``). With no triplet (no class with two members, or one class only) the
loss is 0, still attached to the graph. ``with_stats`` also returns the number of
triplets and the fraction with a positive hinge.

The miner mines on the loss's distance matrix when their distances are equal.
Batch-all and semi-hard triplets then come as runs of distance-sorted negatives
(:class:`~genlab.metric.miners.TripletRanges`) and are summed without listing them:
the positive hinges of a run are a prefix of it (binary search), so the sum is
``sum_pairs k (d(a,p) + margin) - sum_(a,n) c_an d(a,n)`` with k the positive
hinges of a pair and c_an how many of them use n. Time and memory are O(B^2 log B),
not O(number of triplets), with the value and gradient of the sum over the listed
triplets.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.metric.miners import BatchAllMiner, Miner, TripletRanges, Triplets
from genlab.metrics.distances import Distance, Euclidean, euclidean_pairwise

__all__ = [
    "TripletMarginLoss",
    "geometry_stress",
    "triplet_margin_loss",
    "triplet_margin_terms",
    "triplet_range_sums",
]

Reduction = Literal["mean", "sum"]
_EUCLIDEAN = Euclidean()  # the default distance (frozen, shared safely)


def triplet_margin_terms(dist: torch.Tensor, triplets: Triplets, margin: float) -> torch.Tensor:
    """(T,) hinge ``relu(d(a,p) - d(a,n) + margin)`` per triplet, from the (B, B) distances."""
    a, p, n = triplets.anchor, triplets.positive, triplets.negative
    return F.relu(dist[a, p] - dist[a, n] + margin)


def _lower_bound(
    rows: torch.Tensor, row: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """(P,) first j in [lo, hi) with ``rows[row, j] >= x`` (hi if none); rows sorted there.

    A binary search run for all P queries at once: log2(B) steps of (P,) gathers.
    """
    flat, width = rows.reshape(-1), rows.shape[1]
    while bool((open_ := lo < hi).any()):
        mid = (lo + hi) // 2
        right = open_ & (flat[row * width + mid.clamp(max=width - 1)] < x)
        lo, hi = torch.where(right, mid + 1, lo), torch.where(open_ & ~right, mid, hi)
    return lo


def triplet_range_sums(
    dist: torch.Tensor, ranges: TripletRanges, margin: float
) -> tuple[torch.Tensor, int]:
    """(sum of the hinges over the triplets of ``ranges``, number of positive hinges).

    ``dist`` (B, B) must be the distances the ranges were mined on (their ``order``
    sorts its rows). The hinge of (a, p, n) is positive iff ``d(a,n) < d(a,p) + margin``:
    a prefix of each run, found by binary search. The sum is then
    ``sum_pairs k (d(a,p) + margin) - sum_(a,n) c_an d(a,n)``, k the positive hinges
    of a pair and c_an how many of them use the negative n. O(B^2 + P log B) time
    and O(B^2) memory for P positive pairs, whatever the number of triplets.
    """
    a, p, lo, hi = ranges.anchor, ranges.positive, ranges.lo, ranges.hi
    batch = len(dist)
    d_ap = dist[a, p]  # (P,)
    with torch.no_grad():
        ordered = dist.gather(1, ranges.order)  # (B, B) each row by increasing distance
        cut = _lower_bound(ordered, a, lo, hi, d_ap + margin)
        active = cut - lo  # (P,) positive hinges of each run
        # c in sorted order: +1 where a run's active part starts, -1 where it stops, summed
        steps = dist.new_zeros(batch * (batch + 1))
        row = a * (batch + 1)
        steps.index_add_(0, row + lo, torch.ones_like(d_ap))
        steps.index_add_(0, row + cut, -torch.ones_like(d_ap))
        uses = steps.view(batch, batch + 1).cumsum(1)[:, :batch]  # (B, B), exact small integers
        weight = torch.empty_like(dist).scatter_(1, ranges.order, uses)  # back in batch order
    total = (active * (d_ap + margin)).sum() - (weight * dist).sum()
    return total, int(active.sum())


def triplet_margin_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 0.2,
    distance: Distance = _EUCLIDEAN,
    miner: Miner | None = None,
    reduction: Reduction = "mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """(loss, stats) of the triplet margin loss on embeddings (B, D) with labels (B,).

    ``miner=None`` uses every valid triplet (``BatchAllMiner(distance=distance)``).
    ``"mean"`` divides by the number of mined triplets, ``"sum"`` does not; both
    are 0 with no triplet. stats: ``triplets`` (count) and ``active_fraction``
    (share of triplets with a positive hinge, 0 with none).
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    miner = BatchAllMiner(distance=distance) if miner is None else miner
    dist = distance.pairwise(embeddings)  # (B, B)
    shared = miner.distance == distance  # mine on this matrix rather than compute another
    mined = miner.mine(dist.detach(), labels) if shared else miner(embeddings, labels)
    if isinstance(mined, TripletRanges):
        total, active = triplet_range_sums(dist, mined, margin)
        count = len(mined)
    else:
        terms = triplet_margin_terms(dist, mined, margin)
        total, active, count = terms.sum(), int((terms > 0).sum()), len(terms)
    loss = total / max(count, 1) if reduction == "mean" else total
    return loss, {"triplets": float(count), "active_fraction": active / max(count, 1)}


class TripletMarginLoss(nn.Module):
    """``loss(embeddings (B, D), labels (B,))`` -> scalar triplet margin loss.

    ``margin`` >= 0 in the units of ``distance``; ``miner`` picks the triplets
    (None: all valid ones); ``reduction``: mean over all mined triplets, or sum.
    """

    def __init__(
        self,
        margin: float = 0.2,
        distance: Distance = _EUCLIDEAN,
        miner: Miner | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"TripletMarginLoss needs a margin >= 0, got {margin}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.margin, self.distance, self.miner, self.reduction = margin, distance, miner, reduction

    def with_stats(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, stats): see :func:`triplet_margin_loss`."""
        return triplet_margin_loss(
            embeddings,
            labels,
            margin=self.margin,
            distance=self.distance,
            miner=self.miner,
            reduction=self.reduction,
        )

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.with_stats(embeddings, labels)[0]


def geometry_stress(e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Scale-free stress (metric MDS, Kruskal 1964, without the square root) between the
    batch's pairwise Euclidean distances in embedding space, e (N, d), and in input
    space, x (N, D): each set of distances is divided by its mean over distinct pairs,
    then the mean squared difference, () (0: the input geometry up to a scale)."""
    off = ~torch.eye(len(e), dtype=torch.bool, device=e.device)
    de = euclidean_pairwise(e)[off]
    dx = euclidean_pairwise(x)[off]
    return ((de / de.mean() - dx / dx.mean()) ** 2).mean()
