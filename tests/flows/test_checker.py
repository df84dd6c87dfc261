"""Gathered checkerboard couplings: the halves of a checkerboard as half-width maps."""

from __future__ import annotations

import pytest
import torch

from genlab.flows.transforms import (
    AffineCoupling,
    channel_mask,
    checker_join,
    checker_split,
    checkerboard_mask,
)
from genlab.nn import ConvResNet


@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("shape", [(3, 4, 6), (1, 2, 2), (2, 8, 4)])
def test_split_takes_each_rows_masked_pixels_in_order_and_join_inverts_it(parity, shape):
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    mask = checkerboard_mask(*shape, parity=parity).bool()
    kept, free = checker_split(x, parity)
    c, h, w = shape
    assert kept.shape == free.shape == (2, c, h, w // 2)
    for i in range(h):  # independent truth: the mask's columns of row i, left to right
        torch.testing.assert_close(kept[:, :, i], x[:, :, i][:, :, mask[0, i]], rtol=0, atol=0)
        torch.testing.assert_close(free[:, :, i], x[:, :, i][:, :, ~mask[0, i]], rtol=0, atol=0)
    assert torch.equal(checker_join(kept, free, parity), x)


def test_gathered_coupling_runs_its_network_on_half_width_maps_and_keeps_the_kept_half():
    gen = torch.Generator().manual_seed(1)
    net = ConvResNet(2, 4, hidden=8, blocks=1, zero_init_last=False)
    seen = []
    net.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    mask = checkerboard_mask(2, 6, 8, parity=1)
    coupling = AffineCoupling(mask, net, gather=True)
    x = torch.randn(3, 2, 6, 8, generator=gen)
    y, logdet = coupling(x)
    assert seen == [(3, 2, 6, 4)]
    kept = mask.bool().expand_as(x)
    assert torch.equal(y[kept], x[kept]) and not torch.allclose(y[~kept], x[~kept])
    x_back, inv_logdet = coupling.inverse(y)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-5)
    torch.testing.assert_close(inv_logdet, -logdet)


@pytest.mark.parametrize(
    "mask",
    [channel_mask(2, 4, 4), checkerboard_mask(2, 3, 4), checkerboard_mask(2, 4, 4)[:, :, :3]],
    ids=["channel", "odd-height", "odd-width"],
)
def test_gather_refuses_what_is_not_an_even_checkerboard(mask):
    with pytest.raises(ValueError, match="checkerboard mask of even sides"):
        AffineCoupling(mask, ConvResNet(2, 4, hidden=4, blocks=0), gather=True)


def test_gathered_coupling_refuses_image_context():
    coupling = AffineCoupling(
        checkerboard_mask(1, 4, 4), ConvResNet(2, 2, hidden=4, blocks=0), gather=True
    )
    with pytest.raises(ValueError, match="vector context only"):
        coupling(torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4))
