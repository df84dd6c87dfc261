"""Shared network blocks: shapes and zero-initialised outputs."""

from __future__ import annotations

import torch

from genlab.nn import MLP, ConvResNet


def test_mlp_shapes_and_zero_init():
    x = torch.randn(7, 5)
    net = MLP(5, 3, hidden=16, depth=2, dropout=0.1, activation="gelu")
    assert net(x).shape == (7, 3) and torch.equal(net(x), torch.zeros(7, 3))
    assert MLP(5, 3, depth=0)(x).shape == (7, 3)
    net = MLP(5, 3, hidden=16, zero_init_last=False)
    assert net(x).abs().sum() > 0


def test_conv_resnet_shapes_and_zero_init():
    x = torch.randn(2, 3, 6, 5)
    net = ConvResNet(3, 4, hidden=8, blocks=2, dropout=0.1)
    assert torch.equal(net(x), torch.zeros(2, 4, 6, 5))
    net = ConvResNet(3, 4, hidden=6, blocks=1, zero_init_last=False, norm="none")
    y = net(x)
    assert y.shape == (2, 4, 6, 5) and y.abs().sum() > 0


def test_conv_resnet_treats_examples_independently():
    net = ConvResNet(2, 2, hidden=8, zero_init_last=False).eval()
    x = torch.randn(4, 2, 4, 4)
    torch.testing.assert_close(net(x)[:1], net(x[:1]))


def test_dropout_keeps_the_expectation_and_the_rate():
    from genlab.nn.dropout import Dropout

    torch.manual_seed(0)
    drop = Dropout(0.4)
    assert abs(drop.rate - 0.4) <= 1 / 512  # p rounded to a multiple of 1/256
    x = torch.ones(200, 501)  # not a multiple of 8: the last word is partly used
    y = drop(x)
    dropped = (y == 0).float()
    assert abs(float(dropped.mean()) - drop.rate) < 0.005
    assert abs(float(y.mean()) - 1.0) < 0.01
    assert set(torch.unique(y).tolist()) <= {0.0, float(torch.tensor(1.0 / (1.0 - drop.rate)))}
    # independent units: neighbours (bytes of one random word) are uncorrelated
    flat = dropped.flatten()
    corr = torch.corrcoef(torch.stack([flat[:-1], flat[1:]]))[0, 1]
    assert abs(float(corr)) < 0.01
    assert not torch.equal(drop(x), y)  # a fresh mask every call
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
