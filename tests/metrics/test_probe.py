from __future__ import annotations

import pytest
import torch

from genlab.metrics.probe import knn_accuracy, label_subset, linear_probe, majority_vote


def _labels() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    counts = {0: 100, 1: 50, 2: 7, 3: 1}
    labels = torch.cat([torch.full((n,), c) for c, n in counts.items()])
    return labels[torch.randperm(len(labels), generator=g)]


def _blobs(
    n_per_class: int, seed: int, *, classes: int = 4, dim: int = 10, spread: float = 6.0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.eye(classes, dim, dtype=torch.float64)
    y = torch.arange(classes).repeat(n_per_class)
    return centres[y] + torch.randn(len(y), dim, generator=g, dtype=torch.float64), y


# ----------------------------------------------------------------------------- label_subset


@pytest.mark.parametrize(
    ("fraction", "want"), [(0.1, [10, 5, 1, 1]), (0.5, [50, 25, 4, 1]), (1e-6, [1, 1, 1, 1])]
)
def test_label_subset_keeps_the_fraction_of_every_class(fraction: float, want: list[int]) -> None:
    # 0.1 * 7 = 0.7 -> 1; 0.5 * 7 = 3.5 -> 4 (half up); 0.5 * 1 -> 1; tiny fractions keep one
    labels = _labels()
    idx = label_subset(labels, fraction, seed=0)
    assert idx.dtype == torch.long and len(idx.unique()) == len(idx)
    assert torch.bincount(labels[idx]).tolist() == want


def test_label_subset_fraction_one_keeps_everything() -> None:
    labels = _labels()
    assert torch.equal(label_subset(labels, 1.0, seed=3), torch.arange(len(labels)))


def test_label_subset_is_seeded_and_nested() -> None:
    labels = _labels()
    a = label_subset(labels, 0.2, seed=1)
    assert torch.equal(a, label_subset(labels, 0.2, seed=1))
    assert not torch.equal(a, label_subset(labels, 0.2, seed=2))
    assert set(a.tolist()) <= set(label_subset(labels, 0.6, seed=1).tolist())


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, float("nan")])
def test_label_subset_rejects_a_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        label_subset(_labels(), fraction, seed=0)


# ----------------------------------------------------------------------------- linear_probe


def test_linear_probe_separates_gaussian_blobs() -> None:
    x_train, y_train = _blobs(30, seed=0)
    x_test, y_test = _blobs(100, seed=1)
    result = linear_probe(x_train, y_train, x_test, y_test)
    assert result.accuracy >= 0.99
    assert result.cv_accuracy is not None and result.cv_accuracy >= 0.95


def test_linear_probe_on_noise_labels_is_at_chance() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(600, 20, generator=g)
    y = torch.randint(0, 4, (600,), generator=g)
    result = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert abs(result.accuracy - 0.25) < 0.08  # 400 test points: sd 0.022


def test_linear_probe_fixes_c_with_few_labels() -> None:
    x_train, y_train = _blobs(2, seed=3)
    x_test, y_test = _blobs(50, seed=4)
    result = linear_probe(x_train, y_train, x_test, y_test)
    assert (result.C, result.cv_accuracy) == (1.0, None)
    assert result.accuracy > 0.9


def test_linear_probe_choice_of_c_ignores_the_test_set() -> None:
    x_train, y_train = _blobs(10, seed=5, spread=1.5)
    x_test, y_test = _blobs(50, seed=6, spread=1.5)
    a = linear_probe(x_train, y_train, x_test, y_test)
    b = linear_probe(x_train, y_train, x_test, y_test.roll(1))
    c = linear_probe(x_train, y_train, x_test[:7] * 3.0, y_test[:7])
    assert a.C == b.C == c.C and a.cv_accuracy == b.cv_accuracy == c.cv_accuracy
    assert a.accuracy != b.accuracy


def test_linear_probe_standardises_with_train_statistics() -> None:
    x_train, y_train = _blobs(30, seed=7, classes=2)
    x_test, y_test = _blobs(50, seed=8, classes=2)
    assert linear_probe(x_train, y_train, x_test, y_test).accuracy >= 0.99
    # moving only the test set far along class 1's direction: with train statistics every
    # test point lands in class 1; test statistics would have undone the shift
    shift = torch.zeros(10, dtype=torch.float64)
    shift[1] = 50.0
    assert linear_probe(x_train, y_train, x_test + shift, y_test).accuracy == 0.5
    # the same affine change of both sets is undone by the standardisation
    scale = torch.logspace(-3, 3, 10, dtype=torch.float64)
    moved = linear_probe(x_train * scale - 7.0, y_train, x_test * scale - 7.0, y_test)
    assert moved.accuracy == linear_probe(x_train, y_train, x_test, y_test).accuracy


def test_linear_probe_needs_two_classes() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(x, torch.zeros(10, dtype=torch.long), x, torch.zeros(10, dtype=torch.long))


# ----------------------------------------------------------------------------- knn_accuracy


def _naive_knn(train, train_y, test, test_y, k: int, distance: str) -> float:
    def dist(a: torch.Tensor, b: torch.Tensor) -> float:
        if distance == "cosine":
            return 1.0 - float(a @ b) / float(a.norm() * b.norm())
        return float(((a - b) ** 2).sum().sqrt())

    correct = 0
    for q, label in zip(test, test_y.tolist(), strict=True):
        ranked = sorted(range(len(train)), key=lambda i: (dist(q, train[i]), i))[:k]
        votes = [int(train_y[i]) for i in ranked]
        best = max(votes.count(v) for v in votes)
        predicted = next(v for v in votes if votes.count(v) == best)  # nearest among the tied
        correct += predicted == label
    return correct / len(test)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 4, 5])
def test_knn_accuracy_matches_naive_loop(k: int, distance: str) -> None:
    g = torch.Generator().manual_seed(9)
    train, test = torch.randn(80, 4, generator=g), torch.randn(30, 4, generator=g)
    train_y = torch.randint(0, 3, (80,), generator=g) * 10  # labels need not be 0..C-1
    test_y = torch.randint(0, 3, (30,), generator=g) * 10
    got = knn_accuracy(train, train_y, test, test_y, k=k, distance=distance, chunk_size=7)
    assert got == pytest.approx(_naive_knn(train, train_y, test, test_y, k, distance))


def test_knn_with_k1_on_its_own_train_set_is_perfect() -> None:
    g = torch.Generator().manual_seed(10)
    x, y = torch.randn(50, 6, generator=g), torch.randint(0, 5, (50,), generator=g)
    assert knn_accuracy(x, y, x, y, k=1) == 1.0
    assert knn_accuracy(x, y, x, y, k=1, distance="euclidean") == 1.0


def test_majority_vote_breaks_ties_by_the_nearest() -> None:
    ranked = torch.tensor([[2, 1, 1, 2], [7, 3, 3, 7], [5, 9, 9, 9], [4, 4, 4, 4]])
    assert majority_vote(ranked).tolist() == [2, 7, 9, 4]
