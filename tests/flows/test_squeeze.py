"""Squeeze is space-to-depth with Glow's channel order."""

from __future__ import annotations

import torch

from genlab.flows.transforms import Squeeze, Unsqueeze


def test_squeeze_layout():
    x = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(1, 2, 4, 6)
    y, ld = Squeeze()(x)
    assert y.shape == (1, 8, 2, 3) and ld.tolist() == [0.0]
    for c in range(2):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[0, 4 * c + 2 * i + j], x[0, c, i::2, j::2])
    assert torch.equal(Unsqueeze()(y)[0], x)
