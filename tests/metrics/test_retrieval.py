from __future__ import annotations

import pytest
import torch

from genlab.metrics.retrieval import (
    average_precisions,
    map_at_r,
    nearest_neighbours,
    recall_at_k,
    retrieval_scores,
)


def _ranked_others(emb: torch.Tensor, q: int, distance: str) -> list[int]:
    """Indices of every item but q, nearest first, ties to the lower index (naive loop)."""

    def dist(i: int) -> float:
        a, b = emb[q], emb[i]
        if distance == "cosine":
            return 1.0 - float(a @ b) / float(a.norm() * b.norm())
        return float(((a - b) ** 2).sum().sqrt())

    return sorted((i for i in range(len(emb)) if i != q), key=lambda i: (dist(i), i))


def _naive_recall(emb: torch.Tensor, labels: list[int], k: int, distance: str) -> float:
    hits = []
    for q in range(len(emb)):
        if labels.count(labels[q]) == 1:
            continue
        nearest = _ranked_others(emb, q, distance)[:k]
        hits.append(any(labels[i] == labels[q] for i in nearest))
    return sum(hits) / len(hits)


def _naive_map_at_r(emb: torch.Tensor, labels: list[int], distance: str) -> float:
    aps = _naive_aps(emb, labels, distance)
    return sum(aps) / len(aps)


def _naive_aps(emb: torch.Tensor, labels: list[int], distance: str) -> list[float]:
    aps = []
    for q in range(len(emb)):
        r = labels.count(labels[q]) - 1
        if r == 0:
            continue
        ranked = _ranked_others(emb, q, distance)[:r]
        ap, found = 0.0, 0
        for i, j in enumerate(ranked, start=1):
            if labels[j] == labels[q]:
                found += 1
                ap += found / i
        aps.append(ap / r)
    return aps


def _random_data(seed: int, n: int = 60, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 6, (n,), generator=g)
    labels[0] = 99  # a lone query, skipped by both metrics
    emb = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.7 * labels[:, None].double()
    return emb, labels


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_recall_at_k_matches_naive_loop(distance: str) -> None:
    emb, labels = _random_data(0)
    got = recall_at_k(emb, labels, ks=(1, 2, 5), distance=distance)
    want = {k: _naive_recall(emb, labels.tolist(), k, distance) for k in (1, 2, 5)}
    assert got == pytest.approx(want, abs=1e-12)
    assert 0.0 < got[1] < got[5] < 1.0  # a non-trivial case


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_map_at_r_matches_naive_loop(distance: str) -> None:
    emb, labels = _random_data(1)
    got = map_at_r(emb, labels, distance=distance)
    assert got == pytest.approx(_naive_map_at_r(emb, labels.tolist(), distance), abs=1e-12)
    assert 0.0 < got < 1.0


def test_hand_worked_example() -> None:
    # points on a line:   0    1    2    3    4    5    6
    # labels:             A    A    B    A    B    B    C
    emb = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 0, 1, 1, 2])
    # R = 2 for every A and B query; C (at 6) is alone and skipped. Ties go to the lower index.
    # q=0 (A): nearest 1(A), 2(B)          AP = (1/1) / 2             = 1/2
    # q=1 (A): nearest 0(A), 2(B)          AP = (1/1) / 2             = 1/2
    # q=3 (A): nearest 2(B), 4(B)          AP = 0
    # q=2 (B): nearest 1(A), 3(A)          AP = 0
    # q=4 (B): nearest 3(A), 5(B)          AP = (1/2) / 2             = 1/4
    # q=5 (B): nearest 4(B), 6(C)          AP = (1/1) / 2             = 1/2
    # MAP@R = (1/2 + 1/2 + 0 + 0 + 1/4 + 1/2) / 6 = 1.75 / 6 = 7/24
    assert map_at_r(emb, labels) == pytest.approx(7 / 24, abs=1e-15)
    # Recall@1 hits: q=0, 1, 5 -> 3/6; Recall@2 adds q=4 -> 4/6
    assert recall_at_k(emb, labels, ks=(1, 2)) == pytest.approx({1: 3 / 6, 2: 4 / 6})


def test_ties_go_to_the_lower_index() -> None:
    emb = torch.tensor([[0.0], [1.0], [-1.0], [1.0], [-1.0]], dtype=torch.float64)
    assert nearest_neighbours(emb, emb, 4, exclude_self=True)[0].tolist() == [1, 2, 3, 4]
    assert nearest_neighbours(emb, emb, 2, exclude_self=True)[1].tolist() == [3, 0]
    assert nearest_neighbours(emb[:1], emb, 3).tolist() == [[0, 1, 2]]


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_perfect_clustering_scores_one(distance: str) -> None:
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(5).repeat_interleave(8)[torch.randperm(40, generator=g)]
    centres = 10.0 * torch.eye(5, dtype=torch.float64)
    emb = centres[labels] + 0.01 * torch.randn(40, 5, generator=g, dtype=torch.float64)
    scores = retrieval_scores(emb, labels, ks=(1, 4), distance=distance)
    assert scores == {"recall@1": 1.0, "recall@4": 1.0, "map@r": 1.0, "map@r_se": 0.0}


def test_chunked_equals_unchunked() -> None:
    emb, labels = _random_data(3, n=50)
    whole = retrieval_scores(emb, labels, ks=(1, 3), chunk_size=1000)
    for chunk in (1, 7, 49):
        assert retrieval_scores(emb, labels, ks=(1, 3), chunk_size=chunk) == whole


def test_cosine_equals_euclidean_on_normalised_vectors() -> None:
    emb, labels = _random_data(4)
    unit = torch.nn.functional.normalize(emb, dim=1)
    cos = nearest_neighbours(emb, emb, 59, distance="cosine", exclude_self=True)
    euc = nearest_neighbours(unit, unit, 59, distance="euclidean", exclude_self=True)
    assert torch.equal(cos, euc)
    assert retrieval_scores(emb, labels, ks=(1, 5), distance="cosine") == pytest.approx(
        retrieval_scores(unit, labels, ks=(1, 5), distance="euclidean"), abs=1e-12
    )


def test_scores_agree_with_the_single_metrics() -> None:
    emb, labels = _random_data(5)
    scores = retrieval_scores(emb, labels, ks=(1, 2))
    recall = recall_at_k(emb, labels, (1, 2))
    se = scores.pop("map@r_se")
    assert scores == {"recall@1": recall[1], "recall@2": recall[2], "map@r": map_at_r(emb, labels)}
    aps = torch.tensor(_naive_aps(emb, labels.tolist(), "euclidean"), dtype=torch.float64)
    assert se == pytest.approx(float(aps.std() / len(aps) ** 0.5), rel=1e-12)


def test_per_query_average_precisions_match_the_naive_loop() -> None:
    emb, labels = _random_data(7)
    got = average_precisions(emb, labels)
    want = _naive_aps(emb, labels.tolist(), "euclidean")
    assert got.tolist() == pytest.approx(want, abs=1e-12)
    assert len(got) == len(labels) - 1  # the lone query has no answer


def test_float32_input_gives_the_float64_answer() -> None:
    emb, labels = _random_data(6)
    emb = emb.float()
    assert map_at_r(emb, labels) == map_at_r(emb.double(), labels)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e, y: recall_at_k(e, y, ks=(0,)), "between 1 and N - 1"),
        (lambda e, y: recall_at_k(e, y, ks=(10,)), "between 1 and N - 1"),
        (lambda e, y: recall_at_k(e, y, ks=()), "ks is empty"),
        (lambda e, y: map_at_r(e, torch.arange(10)), "shared by at least two"),
        (lambda e, y: map_at_r(e, y[:5]), "labels must be"),
        (lambda e, y: map_at_r(e[:, 0], y), "must be \\(N, D\\)"),
        (lambda e, y: map_at_r(e * torch.nan, y), "NaN"),
        (lambda e, y: map_at_r(e, y, distance="manhattan"), "unknown distance"),
    ],
)
def test_bad_input_gives_a_one_line_error(call, message: str) -> None:
    emb, labels = torch.randn(10, 3), torch.arange(10) % 3
    with pytest.raises(ValueError, match=message):
        call(emb, labels)


def test_many_ties_match_naive_loop() -> None:
    # integer coordinates in {0, 1, 2}^2: most distances are tied
    g = torch.Generator().manual_seed(7)
    emb = torch.randint(0, 3, (40, 2), generator=g).double()
    labels = torch.randint(0, 3, (40,), generator=g)
    want_map = _naive_map_at_r(emb, labels.tolist(), "euclidean")
    want_recall = {k: _naive_recall(emb, labels.tolist(), k, "euclidean") for k in (1, 3)}
    for chunk in (5, 64):
        assert map_at_r(emb, labels, chunk_size=chunk) == pytest.approx(want_map, abs=1e-12)
        assert recall_at_k(emb, labels, (1, 3), chunk_size=chunk) == pytest.approx(want_recall)
