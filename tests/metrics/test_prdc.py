from __future__ import annotations

import pytest
import torch

from genlab.metrics import precision_recall
from genlab.metrics.prdc import knn_radii


def _brute_force(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    def dist(u: torch.Tensor, v: torch.Tensor) -> float:
        return float(((u - v) ** 2).sum().sqrt())

    def radius(points: torch.Tensor, i: int) -> float:
        others = sorted(dist(points[i], points[j]) for j in range(len(points)) if j != i)
        return others[k - 1]

    def coverage(queries: torch.Tensor, points: torch.Tensor) -> float:
        radii = [radius(points, j) for j in range(len(points))]
        inside = [any(dist(q, points[j]) <= radii[j] for j in range(len(points))) for q in queries]
        return sum(inside) / len(queries)

    return coverage(fake, real), coverage(real, fake)


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_matches_brute_force(k: int) -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(30, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(25, 3, generator=g, dtype=torch.float64) * 1.5 + 0.5
    got = precision_recall(real, fake, k=k)
    assert got == pytest.approx(_brute_force(real, fake, k), abs=1e-12)


def test_knn_radii_excludes_the_point_itself() -> None:
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_identical_sets_give_one_one() -> None:
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    assert precision_recall(x, x.clone(), k=3) == (1.0, 1.0)


def test_far_apart_sets_give_zero_zero() -> None:
    g = torch.Generator().manual_seed(2)
    real = torch.randn(40, 4, generator=g)
    fake = torch.randn(40, 4, generator=g) + 100.0
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_collapsed_fake_has_precision_but_no_recall() -> None:
    g = torch.Generator().manual_seed(3)
    real = torch.randn(200, 2, generator=g)
    fake = real[:1].repeat(50, 1) + 1e-3 * torch.randn(50, 2, generator=g)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 1.0 and recall < 0.1
