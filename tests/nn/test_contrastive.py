"""NT-Xent, two views (SimCLR Eq. 1) and with labels (Khosla et al. Eq. 2), against naive
loops over Python floats; and the label masks of its pairs."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.nn.contrastive import NTXentLoss, label_masks, nt_xent, supervised_nt_xent

LABELS = {
    "mixed": [0] * 6 + [1] * 5 + [2] * 8 + [3],  # class 3 has one member
    "one_class": [7] * 8,  # no negatives
    "singletons": list(range(6)),  # no positives
    "pairs": [0, 1, 0, 1],
}


def batch(name: str, seed: int = 0, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor(LABELS[name])
    perm = torch.randperm(len(labels), generator=g)
    return torch.randn(len(labels), dim, generator=g, dtype=torch.float64), labels[perm]


def loop_cosine(x: torch.Tensor) -> list[list[float]]:
    """Cosine similarities of the rows of x by their definition, in Python floats."""
    rows = x.tolist()

    def cos(u: list[float], v: list[float]) -> float:
        dot = sum(a * b for a, b in zip(u, v, strict=True))
        return dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))

    return [[cos(u, v) for v in rows] for u in rows]


@pytest.mark.parametrize("name", list(LABELS))
def test_label_masks_match_a_naive_loop(name: str) -> None:
    y = LABELS[name]
    positive, negative = label_masks(torch.tensor(y))
    b = range(len(y))
    assert positive.tolist() == [[y[i] == y[j] and i != j for j in b] for i in b]
    assert negative.tolist() == [[y[i] != y[j] for j in b] for i in b]


def naive_simclr(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    z = torch.cat([z1, z2])
    n, half = len(z), len(z) // 2
    s = loop_cosine(z)
    losses = []
    for i in range(n):
        partner = (i + half) % n
        denominator = sum(math.exp(s[i][k] / t) for k in range(n) if k != i)
        losses.append(-math.log(math.exp(s[i][partner] / t) / denominator))
    return sum(losses) / n


def naive_supervised(x: torch.Tensor, y: list[int], t: float) -> float:
    s = loop_cosine(x)
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
