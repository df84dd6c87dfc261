from __future__ import annotations

import pytest
import torch
from distance_loops import loop_matrix
from test_miners import all_valid, batch, brute_batch_hard

from genlab.metric import (
    BatchAllMiner,
    BatchHardMiner,
    Cosine,
    Euclidean,
    RandomMiner,
    SemiHardMiner,
    TripletMarginLoss,
    triplet_margin_loss,
    triplet_margin_terms,
)

MARGIN = 0.3


def brute_triplets(kind: str, d: list[list[float]], y: list[int]) -> list[tuple[int, int, int]]:
    valid = all_valid(y)
    if kind == "all":
        return valid
    if kind == "all-active":
        return [(a, p, n) for a, p, n in valid if d[a][n] < d[a][p] + MARGIN]
    if kind == "semi-hard":
        return [(a, p, n) for a, p, n in valid if d[a][p] < d[a][n] < d[a][p] + MARGIN]
    return sorted(brute_batch_hard(d, y))


def make_miner(kind: str, distance):
    return {
        "all": None,
        "all-active": BatchAllMiner(MARGIN, distance=distance),
        "semi-hard": SemiHardMiner(MARGIN, distance=distance),
        "hard": BatchHardMiner(distance=distance),
    }[kind]


def naive_triplet_loss(d, triplets, margin: float, reduction: str) -> tuple[float, float]:
    terms = [max(0.0, d[a][p] - d[a][n] + margin) for a, p, n in triplets]
    total = sum(terms) / max(len(terms), 1) if reduction == "mean" else sum(terms)
    return total, sum(t > 0 for t in terms) / max(len(terms), 1)


KINDS = ["all", "all-active", "semi-hard", "hard"]


@pytest.mark.parametrize("distance", [Euclidean(), Cosine()], ids=repr)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", ["mixed", "one_class", "singletons"])
def test_triplet_loss_matches_a_naive_loop(distance, kind: str, reduction: str, name: str) -> None:
    x, labels = batch(name, seed=10)
    d, y = loop_matrix(distance, x), labels.tolist()
    triplets = brute_triplets(kind, d, y)
    loss, stats = triplet_margin_loss(
        x,
        labels,
        margin=MARGIN,
        distance=distance,
        miner=make_miner(kind, distance),
        reduction=reduction,
    )
    expected, active = naive_triplet_loss(d, triplets, MARGIN, reduction)
    assert float(loss) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert stats == {"triplets": len(triplets), "active_fraction": pytest.approx(active)}
    if name == "mixed":
        assert 0 < expected  # not vacuous


@pytest.mark.parametrize("kind", ["all", "all-active", "semi-hard"])
def test_summed_runs_have_the_gradient_of_listed_triplets(kind: str) -> None:
    x, labels = batch("mixed", seed=11)
    miner = make_miner(kind, Euclidean()) or BatchAllMiner()
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast, _ = triplet_margin_loss(x1, labels, margin=MARGIN, miner=miner)
    terms = triplet_margin_terms(Euclidean().pairwise(x2), miner(x2, labels), MARGIN)
    torch.testing.assert_close(fast, terms.mean(), rtol=1e-12, atol=1e-12)
    fast.backward()
    terms.mean().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_triplet_loss_gradient_matches_finite_differences(kind: str) -> None:
    x, labels = batch("mixed", seed=12, dim=3)
    miner = make_miner(kind, Euclidean())

    def loss(e: torch.Tensor) -> torch.Tensor:
        return triplet_margin_loss(e, labels, margin=MARGIN, miner=miner)[0]

    assert torch.autograd.gradcheck(loss, (x.requires_grad_(True),))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_loss_on_a_larger_batch_agrees_with_float64(kind: str) -> None:
    g = torch.Generator().manual_seed(18)
    x = torch.nn.functional.normalize(torch.randn(300, 32, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 5, (300,), generator=g)
    miner = make_miner(kind, Euclidean())
    loss64, stats64 = triplet_margin_loss(x, labels, margin=MARGIN, miner=miner)
    loss32, stats32 = triplet_margin_loss(x.float(), labels, margin=MARGIN, miner=miner)
    assert stats64["triplets"] > 100 and stats32["triplets"] == pytest.approx(
        stats64["triplets"], rel=1e-3
    )
    assert loss32.item() == pytest.approx(loss64.item(), rel=1e-4)


def test_miner_with_another_distance_mines_by_its_own() -> None:
    x, labels = batch("mixed", seed=13)
    y = labels.tolist()
    d_cos, d_euc = loop_matrix(Cosine(), x), loop_matrix(Euclidean(), x)
    triplets = brute_triplets("semi-hard", d_cos, y)
    loss, stats = triplet_margin_loss(
        x, labels, margin=MARGIN, miner=SemiHardMiner(MARGIN, distance=Cosine())
    )
    assert float(loss) == pytest.approx(naive_triplet_loss(d_euc, triplets, MARGIN, "mean")[0])
    assert stats["triplets"] == len(triplets) > 0


def test_random_miner_loss_uses_the_seeded_triplets() -> None:
    x, labels = batch("mixed", seed=14)
    d = loop_matrix(Euclidean(), x)
    mined = RandomMiner(generator=torch.Generator().manual_seed(3))(x, labels)
    columns = (mined.anchor.tolist(), mined.positive.tolist(), mined.negative.tolist())
    triplets = list(zip(*columns, strict=True))
    miner = RandomMiner(generator=torch.Generator().manual_seed(3))
    loss = TripletMarginLoss(MARGIN, miner=miner)(x, labels)
    assert float(loss) == pytest.approx(naive_triplet_loss(d, triplets, MARGIN, "mean")[0])


@pytest.mark.parametrize("distance", [Euclidean(), Euclidean(squared=True), Cosine()], ids=repr)
@pytest.mark.parametrize("kind", KINDS)
def test_triplet_loss_gradients_are_finite_with_duplicates(distance, kind: str) -> None:
    x, labels = batch("mixed", seed=15)
    x = torch.cat([x, x[:4], torch.zeros(2, x.shape[1], dtype=x.dtype)]).float()
    labels = torch.cat([labels, labels[:4], torch.tensor([0, 1])])  # zeros in two classes
    x.requires_grad_(True)
    loss = TripletMarginLoss(MARGIN, distance=distance, miner=make_miner(kind, distance))
    loss(x, labels).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["one_class", "singletons"])
def test_no_triplet_gives_zero_loss_that_backpropagates(kind: str, name: str) -> None:
    x, labels = batch(name, seed=16)
    x = x.float().requires_grad_(True)
    loss, stats = TripletMarginLoss(miner=make_miner(kind, Euclidean())).with_stats(x, labels)
    assert loss.item() == 0.0 and loss.requires_grad
    assert stats == {"triplets": 0.0, "active_fraction": 0.0}
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_triplet_loss_module_arguments() -> None:
    x, labels = batch("mixed", seed=17)
    module = TripletMarginLoss(0.5, distance=Cosine(), reduction="sum")
    expected, _ = triplet_margin_loss(x, labels, margin=0.5, distance=Cosine(), reduction="sum")
    torch.testing.assert_close(module(x, labels), expected)
    with pytest.raises(ValueError, match="margin"):
        TripletMarginLoss(-0.1)
    with pytest.raises(ValueError, match="reduction"):
        TripletMarginLoss(reduction="none")
