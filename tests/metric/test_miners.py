from __future__ import annotations

import dataclasses

import pytest
import torch
from distance_loops import loop_matrix

from genlab.metric import (
    BatchAllMiner,
    BatchHardMiner,
    Cosine,
    Euclidean,
    RandomMiner,
    SemiHardMiner,
    Triplets,
)
from genlab.metric.miners import MAX_CHUNK_ELEMENTS, anchor_chunk_size

LABELS = {
    "mixed": [0] * 6 + [1] * 5 + [2] * 8 + [3],  # class 3 has one member: never an anchor
    "one_class": [7] * 8,  # no negatives: nothing to mine
    "singletons": list(range(6)),  # no positives
    "pairs": [0, 1, 0, 1],
}


def batch(name: str, seed: int = 0, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor(LABELS[name])
    perm = torch.randperm(len(labels), generator=g)
    return torch.randn(len(labels), dim, generator=g, dtype=torch.float64), labels[perm]


def as_set(t: Triplets) -> set[tuple[int, int, int]]:
    found = list(zip(t.anchor.tolist(), t.positive.tolist(), t.negative.tolist(), strict=True))
    assert len(found) == len(set(found)), "a triplet was returned twice"
    return set(found)


def all_valid(y: list[int]) -> list[tuple[int, int, int]]:
    b = range(len(y))
    return [(a, p, n) for a in b for p in b for n in b if y[a] == y[p] and a != p and y[n] != y[a]]


def brute_batch_hard(d: list[list[float]], y: list[int]) -> set[tuple[int, int, int]]:
    found = set()
    for a in range(len(y)):
        pos = [p for p in range(len(y)) if y[p] == y[a] and p != a]
        neg = [n for n in range(len(y)) if y[n] != y[a]]
        if pos and neg:
            found.add((a, max(pos, key=lambda p: d[a][p]), min(neg, key=lambda n: d[a][n])))
    return found


@pytest.mark.parametrize("distance", [Euclidean(), Cosine()], ids=repr)
@pytest.mark.parametrize("name", list(LABELS))
def test_miners_match_brute_force_definitions(distance, name: str) -> None:
    x, labels = batch(name)
    d, y = loop_matrix(distance, x), labels.tolist()
    valid = all_valid(y)
    margin = 0.3 if isinstance(distance, Cosine) else 0.8
    semi = {(a, p, n) for a, p, n in valid if d[a][p] < d[a][n] < d[a][p] + margin}
    active = {(a, p, n) for a, p, n in valid if d[a][n] < d[a][p] + margin}
    assert as_set(SemiHardMiner(margin, distance=distance)(x, labels)) == semi
    assert as_set(BatchAllMiner(distance=distance)(x, labels)) == set(valid)
    assert as_set(BatchAllMiner(margin, distance=distance)(x, labels)) == active
    assert as_set(BatchHardMiner(distance=distance)(x, labels)) == brute_batch_hard(d, y)
    if name == "mixed":  # the case is not vacuous
        assert 0 < len(semi) < len(active) < len(valid)


def test_semi_hard_matches_brute_force_on_many_batches() -> None:
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(16, 3, generator=g, dtype=torch.float64)
        labels = torch.randint(0, 3, (16,), generator=g)
        d, y = loop_matrix(Euclidean(), x), labels.tolist()
        semi = {(a, p, n) for a, p, n in all_valid(y) if d[a][p] < d[a][n] < d[a][p] + 0.5}
        assert as_set(SemiHardMiner(0.5)(x, labels)) == semi


@pytest.mark.parametrize(
    "miner", [SemiHardMiner(0.8), BatchAllMiner(), BatchAllMiner(0.5)], ids=repr
)
@pytest.mark.parametrize("chunk", [1, 3])
def test_chunked_expansion_equals_unchunked(miner, chunk: int) -> None:
    x, labels = batch("mixed", seed=1)
    whole = miner(x, labels)
    parts = dataclasses.replace(miner, chunk_size=chunk)(x, labels)
    for field in ("anchor", "positive", "negative"):
        assert torch.equal(getattr(whole, field), getattr(parts, field))


def test_chunk_size_keeps_candidates_under_the_bound() -> None:
    for b in (1, 7, 64, 512, 1000, 4096, 10_000):
        chunk = anchor_chunk_size(b)
        assert chunk == 1 or chunk * b * b <= MAX_CHUNK_ELEMENTS, (b, chunk)
    assert anchor_chunk_size(4096) == 1 and anchor_chunk_size(512) == 64


@pytest.mark.parametrize(
    "miner", [SemiHardMiner(0.8), BatchAllMiner(0.5), BatchHardMiner()], ids=repr
)
def test_mine_on_a_distance_matrix_equals_mining_embeddings(miner) -> None:
    x, labels = batch("mixed", seed=2)
    mined = miner.mine(miner.distance.pairwise(x), labels)
    if not isinstance(mined, Triplets):
        assert len(mined) == len(mined.triplets())
        mined = mined.triplets()
    assert as_set(mined) == as_set(miner(x, labels))


@pytest.mark.parametrize(
    "miner", [SemiHardMiner(0.8), BatchAllMiner(), BatchHardMiner(), RandomMiner()], ids=repr
)
def test_triplets_are_long_indices_without_gradient(miner) -> None:
    x, labels = batch("mixed", seed=3)
    t = miner(x.requires_grad_(True), labels)
    for index in (t.anchor, t.positive, t.negative):
        assert index.dtype == torch.long and not index.requires_grad and index.shape == (len(t),)


def test_random_miner_picks_valid_triplets_reproducibly() -> None:
    x, labels = batch("mixed", seed=4)
    y = labels.tolist()
    first = RandomMiner(generator=torch.Generator().manual_seed(5))(x, labels)
    again = RandomMiner(generator=torch.Generator().manual_seed(5))(x, labels)
    assert as_set(first) == as_set(again)
    assert as_set(first) <= set(all_valid(y))
    has_both = [a for a in range(len(y)) if y.count(y[a]) > 1]  # 4 classes: always a negative
    assert first.anchor.tolist() == has_both
    miner = RandomMiner(generator=torch.Generator().manual_seed(6))
    draws = [miner(x, labels) for _ in range(200)]
    anchor = has_both[0]
    seen_p = {int(t.positive[0]) for t in draws}
    seen_n = {int(t.negative[0]) for t in draws}
    assert seen_p == {p for p in range(len(y)) if y[p] == y[anchor] and p != anchor}
    assert seen_n == {n for n in range(len(y)) if y[n] != y[anchor]}


@pytest.mark.parametrize("name", ["one_class", "singletons"])
def test_random_miner_on_batches_without_triplets(name: str) -> None:
    x, labels = batch(name)
    assert len(RandomMiner()(x, labels)) == 0


def test_ties_between_duplicates_still_give_valid_triplets() -> None:
    x, labels = batch("mixed", seed=5)
    x = torch.cat([x, x])  # every distance appears twice, zeros off the diagonal
    labels = torch.cat([labels, labels])
    valid = set(all_valid(labels.tolist()))
    for miner in (SemiHardMiner(0.8), BatchHardMiner(), BatchAllMiner(0.5)):
        assert as_set(miner(x, labels)) <= valid


def test_bad_input_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="labels"):
        BatchHardMiner()(torch.zeros(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="margin > 0"):
        SemiHardMiner(0.0)
