from __future__ import annotations

import math

import pytest
import torch
from distance_loops import loop_matrix
from test_miners import all_valid, batch, brute_batch_hard

from genlab.metric import (
    BatchAllMiner,
    BatchHardMiner,
    Cosine,
    Euclidean,
    NTXentLoss,
    RandomMiner,
    SemiHardMiner,
    TripletMarginLoss,
    nt_xent,
    supervised_nt_xent,
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


def naive_simclr(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    z = torch.cat([z1, z2])
    n, half = len(z), len(z) // 2
    s = [[1.0 - c for c in row] for row in loop_matrix(Cosine(), z)]
    losses = []
    for i in range(n):
        partner = (i + half) % n
        denominator = sum(math.exp(s[i][k] / t) for k in range(n) if k != i)
        losses.append(-math.log(math.exp(s[i][partner] / t) / denominator))
    return sum(losses) / n


def naive_supervised(x: torch.Tensor, y: list[int], t: float) -> float:
    s = [[1.0 - c for c in row] for row in loop_matrix(Cosine(), x)]
    losses = []
    for a in range(len(y)):
        negatives = sum(math.exp(s[a][n] / t) for n in range(len(y)) if y[n] != y[a])
        for p in range(len(y)):
            if p != a and y[p] == y[a]:
                positive = math.exp(s[a][p] / t)
                losses.append(-math.log(positive / (positive + negatives)))
    return sum(losses) / max(len(losses), 1)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_two_views_matches_simclr_equation(temperature: float) -> None:
    g = torch.Generator().manual_seed(20)
    z1 = torch.randn(6, 4, generator=g, dtype=torch.float64)
    z2 = z1 + 0.3 * torch.randn(6, 4, generator=g, dtype=torch.float64)
    expected = naive_simclr(z1, z2, temperature)
    assert float(NTXentLoss(temperature)(z1, z2)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["mixed", "one_class", "singletons", "pairs"])
def test_nt_xent_with_labels_matches_a_naive_loop(name: str) -> None:
    x, labels = batch(name, seed=21)
    expected = naive_supervised(x, labels.tolist(), 0.2)
    got = NTXentLoss(0.2).with_labels(x, labels)
    assert float(got) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_nt_xent_gradients_match_finite_differences() -> None:
    x, labels = batch("mixed", seed=22, dim=3)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: supervised_nt_xent(e, labels, 0.5), (x,))
    z2 = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5), (x, z2.requires_grad_(True)))


@pytest.mark.parametrize("name", ["mixed", "one_class", "singletons"])
def test_nt_xent_is_stable_at_low_temperature_and_with_duplicates(name: str) -> None:
    x, labels = batch(name, seed=23)
    x = torch.cat([x, x[:3], torch.zeros(1, x.shape[1], dtype=x.dtype)])
    labels = torch.cat([labels, labels[:3], labels[:1]])
    x32 = x.float().requires_grad_(True)
    got = supervised_nt_xent(x32, labels, 0.01)  # logits up to 100: exp overflows float32
    got.backward()
    assert torch.isfinite(got) and torch.isfinite(x32.grad).all()
    expected = supervised_nt_xent(x, labels, 0.01)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    z = x32.detach().clone().requires_grad_(True)
    simclr = nt_xent(z, z.detach().clone(), 0.01)  # identical views
    simclr.backward()
    assert torch.isfinite(simclr) and torch.isfinite(z.grad).all()


def test_nt_xent_arguments() -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)
    with pytest.raises(ValueError, match="two views"):
        nt_xent(torch.zeros(3, 2), torch.zeros(4, 2))
