from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genlab.metrics.distances import Cosine, Distance, Euclidean, as_distance

# the definition, one pair at a time in Python floats, shared with the miner and loss tests
sys.path.insert(0, str(Path(__file__).parents[1] / "metric"))
from distance_loops import loop_matrix  # noqa: E402

DISTANCES = [Euclidean(), Euclidean(squared=True), Cosine()]


@pytest.mark.parametrize("distance", DISTANCES, ids=repr)
def test_pairwise_and_paired_match_the_definition(distance: Distance) -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 5, generator=g, dtype=torch.float64)
    b = torch.randn(4, 5, generator=g, dtype=torch.float64) * 3 + 1
    expected = torch.tensor(loop_matrix(distance, a, b), dtype=torch.float64)
    torch.testing.assert_close(distance.pairwise(a, b), expected, rtol=1e-12, atol=1e-12)
    self_expected = torch.tensor(loop_matrix(distance, a), dtype=torch.float64)
    torch.testing.assert_close(distance.pairwise(a), self_expected, rtol=1e-12, atol=1e-12)
    paired = distance.paired(a[:4], b)
    torch.testing.assert_close(paired, expected[:4].diagonal(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("distance", DISTANCES, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_self_distances_are_exactly_zero_and_never_negative(distance, dtype) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 16, generator=g).to(dtype) * 100  # large norms: round-off in |a|^2 + |b|^2
    x = torch.cat([x, x[:5] + 1e-6])  # near-duplicates: cancellation could go below 0
    d = distance.pairwise(x)
    assert d.shape == (55, 55)
    assert (d.diagonal() == 0).all()
    assert (d >= 0).all() and torch.isfinite(d).all()
    assert (distance.paired(x, x) <= 1e-3).all()


@pytest.mark.parametrize("distance", DISTANCES, ids=repr)
def test_gradients_are_finite_with_duplicate_and_zero_embeddings(distance: Distance) -> None:
    g = torch.Generator().manual_seed(2)
    base = torch.randn(6, 4, generator=g, dtype=torch.float64)
    x = torch.cat([base, base[:3], torch.zeros(2, 4, dtype=torch.float64)]).requires_grad_(True)
    weights = torch.rand(11, 11, generator=g, dtype=torch.float64)
    ((distance.pairwise(x) * weights).sum() + distance.paired(x, x.flip(0)).sum()).backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("distance", DISTANCES, ids=repr)
def test_gradients_match_finite_differences(distance: Distance) -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u: distance.pairwise(u), (a,))
    assert torch.autograd.gradcheck(lambda u, v: distance.pairwise(u, v), (a, b))
    a4 = a[:4].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u, v: distance.paired(u, v), (a4, b))


def test_distances_compare_by_value() -> None:
    assert Euclidean() == Euclidean(squared=False)
    assert Euclidean() != Euclidean(squared=True)
    assert Cosine() == Cosine() and Cosine() != Euclidean()


def test_cosine_is_scale_invariant_and_bounded() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(8, 3, generator=g, dtype=torch.float64)
    d = Cosine().pairwise(x, torch.cat([x * 5.0, -x]))
    torch.testing.assert_close(d[:, :8].diagonal(), torch.zeros(8, dtype=torch.float64))
    torch.testing.assert_close(d[:, 8:].diagonal(), torch.full((8,), 2.0, dtype=torch.float64))


def test_configs_name_the_distances() -> None:
    assert as_distance("euclidean") == Euclidean() and as_distance("cosine") == Cosine()
    assert as_distance(Euclidean(squared=True)) == Euclidean(squared=True)
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        as_distance("manhattan")
