"""The triplet geometry of a labelled embedding against naive loops over every triplet."""

from __future__ import annotations

import itertools

import pytest
import torch

from genlab.metric.geometry import margin_satisfied, pair_distances, triplet_mask
from genlab.metrics.distances import Cosine


def test_margin_arithmetic_matches_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(11, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 2, 1, 0])
    d = torch.cdist(e, e)
    gaps = [
        float(d[a, n] - d[a, p])
        for a, p, n in itertools.product(range(11), repeat=3)
        if p != a and y[p] == y[a] and y[n] != y[a]
    ]
    pairs = pair_distances(e, y, "euclidean")
    assert sorted(pairs["gap"].tolist()) == pytest.approx(sorted(gaps), abs=1e-6)
    same = [(i, j) for i, j in itertools.combinations(range(11), 2) if y[i] == y[j]]
    assert len(pairs["positive"]) == len(same)
    assert len(pairs["negative"]) == 55 - len(same)
    for margin in (0.0, 0.3, 1.0):
        share = sum(gap >= margin for gap in gaps) / len(gaps)
        assert margin_satisfied(d, y, margin) == pytest.approx(share)


def test_triplet_mask_and_a_distance_object():
    y = torch.tensor([0, 1, 0, 2, 1])
    mask = triplet_mask(y)
    naive = [
        [[p != a and y[p] == y[a] and y[n] != y[a] for n in range(5)] for p in range(5)]
        for a in range(5)
    ]
    assert mask.tolist() == naive
    e = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    by_name, by_object = pair_distances(e, y, "cosine"), pair_distances(e, y, Cosine())
    assert all(torch.equal(by_name[k], by_object[k]) for k in by_name)


def test_margin_share_counts_ties_and_chunks_like_the_full_cube():
    """The sorted count equals the (N, N, N) comparison, ties included (integer
    distances), whatever the chunk of anchors."""
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 4, (40,), generator=g)
    d = torch.randint(0, 6, (40, 40), generator=g).double()
    d = (d + d.T).fill_diagonal_(0.0)
    valid = triplet_mask(y)
    for margin in (0.0, 1.0, 2.5):
        ok = d[:, None, :] >= d[:, :, None] + margin
        share = float((ok & valid).sum()) / float(valid.sum())
        for chunk in (1, 7, 512):
            assert margin_satisfied(d, y, margin, chunk_size=chunk) == share
