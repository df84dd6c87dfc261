"""Triplet miners: which (anchor, positive, negative) triplets of a batch to train on.

A miner takes embeddings (B, D) and labels (B,) and returns :class:`Triplets`,
three LongTensors (T,) of batch indices with ``labels[a] == labels[p]``,
``a != p`` and ``labels[n] != labels[a]``. Mining only picks indices: it runs
without gradient, on the distance matrix of its ``distance`` (smaller = closer).

- :class:`RandomMiner`: one random positive and one random negative per anchor.
- :class:`BatchHardMiner`: per anchor the farthest positive and the closest negative
  (Hermans et al. 2017, "In defense of the triplet loss", Sec. 2).
- :class:`BatchAllMiner`: every valid triplet, or with ``margin`` only those whose
  hinge ``d(a,p) - d(a,n) + margin`` is positive (Hermans et al. 2017, Sec. 2).
- :class:`SemiHardMiner`: ``d(a,p) < d(a,n) < d(a,p) + margin``
  (Schroff et al. 2015, "FaceNet", Sec. 3.2).

Each miner's ``mine(dist, labels)`` works from a precomputed (B, B) matrix of its
distance (a loss that has the matrix already passes it). Batch-all and semi-hard
select, for each positive pair (a, p), a run of a's negatives sorted by distance,
and ``mine`` returns them as the compact :class:`TripletRanges`: O(B^2) memory
whatever the number of triplets, which may be O(B^3). Expanding runs into
triplets goes by chunks of anchors whose candidate count ``chunk * B * B`` stays
under 2^24, so temporaries stay bounded; the triplets returned are as many as
there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from genlab.metrics.distances import Distance, Euclidean
from genlab.nn.contrastive import label_masks

__all__ = [
    "BatchAllMiner",
    "BatchHardMiner",
    "MAX_CHUNK_ELEMENTS",
    "Miner",
    "RandomMiner",
    "SemiHardMiner",
    "TripletRanges",
    "Triplets",
    "anchor_chunk_size",
    "batch_hard_triplets",
    "negative_runs",
    "random_triplets",
]

MAX_CHUNK_ELEMENTS = 1 << 24  # candidate triplets (chunk * B * B) per expansion chunk


@dataclass(frozen=True)
class Triplets:
    """Batch indices of T triplets: ``anchor``, ``positive``, ``negative``, each LongTensor (T,)."""

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor

    def __len__(self) -> int:
        return self.anchor.shape[0]


@dataclass(frozen=True)
class TripletRanges:
    """Triplets stored per positive pair, as runs of distance-sorted negatives.

    Pair i stands for the triplets ``(anchor[i], positive[i], order[anchor[i], j])``
    for ``lo[i] <= j < hi[i]``. ``order`` (B, B): row a lists the batch indices by
    increasing distance from a, a's negatives first. ``anchor``, ``positive``,
    ``lo``, ``hi``: LongTensors (P,), pairs sorted by anchor, no empty run.
    """

    anchor: torch.Tensor
    positive: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    order: torch.Tensor

    def __len__(self) -> int:
        return int((self.hi - self.lo).sum())

    def triplets(self, chunk_size: int | None = None) -> Triplets:
        """The explicit triplets, expanded ``chunk_size`` anchors at a time.

        ``None`` picks :func:`anchor_chunk_size`; the result does not depend on it.
        """
        batch = self.order.shape[0]
        chunk = chunk_size or anchor_chunk_size(batch)
        starts = torch.arange(0, batch, chunk, device=self.anchor.device)
        cuts = torch.searchsorted(self.anchor, starts).tolist() + [len(self.anchor)]
        parts = [self._expand(i, j) for i, j in zip(cuts[:-1], cuts[1:], strict=True) if j > i]
        if not parts:
            empty = torch.zeros(0, dtype=torch.long, device=self.anchor.device)
            return Triplets(empty, empty, empty)
        return Triplets(*(torch.cat(column) for column in zip(*parts, strict=True)))

    def _expand(self, i: int, j: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        anchor, lo, count = self.anchor[i:j], self.lo[i:j], self.hi[i:j] - self.lo[i:j]
        pair = torch.repeat_interleave(count)  # (T_chunk,) pair of each triplet
        # flat index into order of triplet t: a * B + lo + (t - first triplet of its pair)
        base = anchor * self.order.shape[1] + lo - (count.cumsum(0) - count)
        flat = torch.arange(len(pair), device=pair.device) + base[pair]
        return anchor[pair], self.positive[i:j][pair], self.order.reshape(-1)[flat]


class Miner(Protocol):
    """Picks triplets from a labelled batch, by the distances of its ``distance``."""

    distance: Distance

    def mine(self, dist: torch.Tensor, labels: torch.Tensor) -> Triplets | TripletRanges:
        """Triplets from ``dist`` (B, B) = ``distance.pairwise(embeddings)`` and labels (B,)."""
        ...

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """Triplets of batch indices from embeddings (B, D) and labels (B,)."""
        ...


def anchor_chunk_size(batch: int) -> int:
    """Anchors per chunk so that ``chunk * batch^2 <= MAX_CHUNK_ELEMENTS`` (at least 1)."""
    return max(1, MAX_CHUNK_ELEMENTS // max(1, batch * batch))


def _check(dist_or_embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if dist_or_embeddings.dim() != 2 or labels.shape != dist_or_embeddings.shape[:1]:
        raise ValueError(
            "miners take embeddings (B, D) or distances (B, B) with labels (B,), got "
            f"{tuple(dist_or_embeddings.shape)} and {tuple(labels.shape)}"
        )


def _distances(distance: Distance, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    _check(embeddings, labels)
    with torch.no_grad():
        return distance.pairwise(embeddings.detach())  # (B, B)


def _as_triplets(mined: Triplets | TripletRanges, chunk_size: int | None) -> Triplets:
    return mined if isinstance(mined, Triplets) else mined.triplets(chunk_size)


def _class_members(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(members (B, K), valid (B, K)): row a lists a's positives, padded to K = largest class."""
    _, cls, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    grouped = torch.argsort(cls, stable=True)  # batch indices, class by class
    first = counts.cumsum(0) - counts
    rank = torch.arange(len(labels), device=labels.device) - first[cls[grouped]]
    width = int(counts.max()) if len(counts) else 0
    table = torch.full((len(counts), width), -1, device=labels.device)
    table[cls[grouped], rank] = grouped  # (C, K) members of each class, -1 padded
    members = table[cls]  # (B, K)
    valid = (members >= 0) & (members != torch.arange(len(labels), device=labels.device)[:, None])
    return members.clamp_min(0), valid


def _has_triplet(labels: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the sample's class has another member and is not the whole batch."""
    _, cls, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    size = counts[cls]
    return (size > 1) & (size < len(labels))


def _spread(dist: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """A shift that moves any distance past every other one plus the margin."""
    if dist.numel() == 0:
        return dist.new_ones(())
    return dist.max() - dist.min() + abs(margin) + 1.0


# Masks below are applied arithmetically (adding a multiple of a 0/1 mask, or
# multiplying by it): exact on the entries kept, and on CPU about ten times faster
# than where/masked_fill with a mask without pattern (the label masks of a shuffled
# batch defeat branch prediction).


def random_triplets(labels: torch.Tensor, generator: torch.Generator | None = None) -> Triplets:
    """One uniformly random positive and negative for each anchor that has both."""
    positive, negative = label_masks(labels)
    keep = _has_triplet(labels)
    shape, device = positive.shape, labels.device
    # argmax of iid uniforms in [1, 2) over the allowed entries (others 0): uniform among them
    p = ((torch.rand(shape, generator=generator, device=device) + 1.0) * positive).argmax(1)
    n = ((torch.rand(shape, generator=generator, device=device) + 1.0) * negative).argmax(1)
    anchor = torch.arange(len(labels), device=device)
    return Triplets(anchor[keep], p[keep], n[keep])


def batch_hard_triplets(dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """Per anchor the farthest positive and closest negative in ``dist`` (B, B)."""
    _check(dist, labels)
    spread = _spread(dist)
    same = (labels[:, None] == labels[None, :]).to(dist.dtype)
    to_negative = torch.addcmul(dist, same, spread)  # same class moved past every negative
    to_positive = torch.addcmul(dist, same - 1.0, spread)  # other classes moved below
    to_positive.fill_diagonal_(float("-inf"))  # never itself
    keep = _has_triplet(labels)
    anchor = torch.arange(len(labels), device=labels.device)
    p, n = to_positive.argmax(1), to_negative.argmin(1)
    return Triplets(anchor[keep], p[keep], n[keep])


def negative_runs(
    dist: torch.Tensor, labels: torch.Tensor, margin: float | None, *, semi_hard: bool = False
) -> TripletRanges:
    """Negatives of each positive pair (a, p) as a run of a's distance-sorted negatives.

    Batch-all: all negatives, or with ``margin`` those with ``d(a,n) < d(a,p) + margin``;
    semi-hard (needs a margin): ``d(a,p) < d(a,n) < d(a,p) + margin``. O(B^2 log B).
    """
    _check(dist, labels)
    assert margin is not None or not semi_hard, "semi-hard mining needs a margin"
    same = labels[:, None] == labels[None, :]
    spread = _spread(dist, margin or 0.0)  # other-class first, then same-class by any margin
    keys, order = (dist + spread * same).sort(dim=1)  # (B, B)
    members, valid = _class_members(labels)  # (B, K)
    d_ap = dist.gather(1, members)  # (B, K)
    if margin is None:  # every negative
        hi = (~same).sum(1, keepdim=True).expand_as(d_ap)
    else:  # negatives strictly closer than d(a,p) + margin; shifted keys never count
        hi = torch.searchsorted(keys, d_ap + margin, right=False)
    lo = torch.searchsorted(keys, d_ap, right=True) if semi_hard else torch.zeros_like(hi)
    keep = valid & (hi > lo)
    anchor = torch.arange(len(labels), device=labels.device)[:, None].expand_as(members)
    return TripletRanges(anchor[keep], members[keep], lo[keep], hi[keep], order)


@dataclass(frozen=True)
class RandomMiner:
    """One uniformly random positive and negative for each anchor that has both.

    ``generator`` (on the labels' device) makes the draws reproducible and advances
    with each call; None uses torch's global generator. ``distance`` is not used
    (random picks ignore distances); it is there for the :class:`Miner` protocol.
    """

    generator: torch.Generator | None = None
    distance: Distance = Euclidean()

    @torch.no_grad()
    def mine(self, dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
        _check(dist, labels)
        return random_triplets(labels, self.generator)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        _check(embeddings, labels)
        return random_triplets(labels, self.generator)


@dataclass(frozen=True)
class BatchHardMiner:
    """Per anchor, the farthest positive and the closest negative; B triplets at most.

    Anchors without a positive (a class of one) or without a negative are dropped.
    """

    distance: Distance = Euclidean()

    @torch.no_grad()
    def mine(self, dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
        return batch_hard_triplets(dist, labels)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        return self.mine(_distances(self.distance, embeddings, labels), labels)


@dataclass(frozen=True)
class BatchAllMiner:
    """Every valid triplet; with ``margin``, only those with a positive hinge.

    ``margin=None``: all (a, p, n) with y_a == y_p, a != p, y_n != y_a. With a
    margin, only ``d(a,n) < d(a,p) + margin``: the triplets a triplet loss with
    that margin does not ignore, so a mean over them averages the active ones.
    ``chunk_size``: anchors per expansion chunk (None: :func:`anchor_chunk_size`).
    """

    margin: float | None = None
    distance: Distance = Euclidean()
    chunk_size: int | None = None

    @torch.no_grad()
    def mine(self, dist: torch.Tensor, labels: torch.Tensor) -> TripletRanges:
        return negative_runs(dist, labels, self.margin)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        dist = _distances(self.distance, embeddings, labels)
        return _as_triplets(self.mine(dist, labels), self.chunk_size)


@dataclass(frozen=True)
class SemiHardMiner:
    """Negatives farther than the positive but within the margin: d(a,p) < d(a,n) < d(a,p) + m.

    ``chunk_size``: anchors per expansion chunk (None: :func:`anchor_chunk_size`).
    """

    margin: float = 0.2
    distance: Distance = Euclidean()
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError(f"SemiHardMiner needs a margin > 0, got {self.margin}")

    @torch.no_grad()
    def mine(self, dist: torch.Tensor, labels: torch.Tensor) -> TripletRanges:
        return negative_runs(dist, labels, self.margin, semi_hard=True)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        dist = _distances(self.distance, embeddings, labels)
        return _as_triplets(self.mine(dist, labels), self.chunk_size)
