from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.data import DataMeta
from genlab.metrics import bits_per_dim, model_bits_per_dim

META = DataMeta(name="t", shape=(1, 8, 8), levels=17, num_classes=None)


def test_uniform_model_gives_log2_levels() -> None:
    nll = torch.full(
        (10,), 64 * math.log(17), dtype=torch.float64
    )  # uniform over 17 levels in 64 dims
    assert bits_per_dim(nll, META) == pytest.approx(math.log2(17), rel=1e-12)


def test_bits_per_dim_by_hand() -> None:
    nll = torch.tensor([10.0, 20.0, 30.0])
    assert bits_per_dim(nll, META) == pytest.approx(20.0 / (64 * math.log(2)), rel=1e-12)


class _SumModel(nn.Module):
    """nll(x) = sum of the pixel values, recording its batch sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.batches: list[int] = []
        self.grad_enabled: list[bool] = []

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(x))
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.scale * x.float().flatten(1).sum(1)


def test_model_bits_per_dim_batches_under_no_grad(device: torch.device) -> None:
    model = _SumModel().to(device)
    x = torch.randint(0, 17, (23, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    got = model_bits_per_dim(model, x, META, batch_size=10)
    expected = float(x.double().flatten(1).sum(1).mean()) / (64 * math.log(2))
    assert got == pytest.approx(expected, rel=1e-6)
    assert model.batches == [10, 10, 3]
    assert model.grad_enabled == [False, False, False]
