"""The triplet geometry of a labelled embedding, over every triplet at once (not a batch's
mined few): the distances of same-class and other-class pairs, the gap ``d(a,n) - d(a,p)``
of each triplet, and the share of triplets that already satisfy a margin. The contrastive
study reads a trained embedding through these; the miners pick from the same triplets.

A triplet is (anchor a, positive p != a of a's class, negative n of another class), as
for the miners (:mod:`genlab.metric.miners`). ``triplet_mask`` and ``pair_distances``
(every gap) take O(N^3) memory: for a few hundred embeddings. ``margin_satisfied``
counts without listing the triplets, in O(N^2) memory and O(N^2 log N) time: a whole
test split of thousands.
"""

from __future__ import annotations

import torch

from genlab.metrics.distances import Distance, DistanceName, as_distance
from genlab.nn.contrastive import label_masks

__all__ = ["margin_satisfied", "pair_distances", "triplet_mask"]


def triplet_mask(labels: torch.Tensor) -> torch.Tensor:
    """(N, N, N) bool: (a, p, n) is a triplet of labels (N,)."""
    positive, negative = label_masks(labels)
    return positive[:, :, None] & negative[:, None, :]


def pair_distances(
    e: torch.Tensor, labels: torch.Tensor, distance: Distance | DistanceName
) -> dict[str, torch.Tensor]:
    """Distances of embeddings (N, d) with labels (N,): ``positive`` (P,) and ``negative``
    (M,) over unordered pairs i < j of the same / another class, and ``gap`` (T,), the
    ``d(a, n) - d(a, p)`` of every triplet (anchor a, positive p != a, negative n)."""
    d = as_distance(distance).pairwise(e)
    same = labels[:, None] == labels[None, :]
    upper = torch.ones_like(same).triu(1)
    gap = d[:, None, :] - d[:, :, None]  # (a, p, n): d(a, n) - d(a, p)
    return {
        "positive": d[same & upper],
        "negative": d[~same & upper],
        "gap": gap[triplet_mask(labels)].float(),
    }


def margin_satisfied(
    d: torch.Tensor, labels: torch.Tensor, margin: float, *, chunk_size: int = 512
) -> float:
    """Share of all triplets (a, p, n) of distances d (N, N) and labels (N,) whose
    hinge ``relu(d(a,p) - d(a,n) + margin)`` is zero, i.e. ``d(a,n) >= d(a,p) + margin``.

    Counted per anchor without listing the triplets: each anchor's negative distances
    sorted once, then each positive's threshold ``d(a,p) + margin`` looked up in them
    (``chunk_size`` anchors at a time)."""
    positive, negative = label_masks(labels)
    n = len(labels)
    met = 0
    for start in range(0, n, chunk_size):
        rows = slice(start, start + chunk_size)
        # other-class distances in ascending order, the rest as -inf ahead of them
        neg = d[rows].masked_fill(~negative[rows], -torch.inf).sort(dim=1).values
        # how many of them are >= d(a, p) + margin, for every p
        count = n - torch.searchsorted(neg, (d[rows] + margin).contiguous(), side="left")
        met += int(count[positive[rows]].sum())
    total = int((positive.sum(1) * negative.sum(1)).sum())
    return met / total
