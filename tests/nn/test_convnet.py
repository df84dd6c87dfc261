"""Convolutional encoder and decoder: exact sizes at odd shapes, gradients everywhere."""

from __future__ import annotations

import pytest
import torch

from genlab.nn import ConvDecoder, ConvEncoder
from genlab.nn.convnet import level_sizes


def test_level_sizes_round_up():
    assert level_sizes(28, 28, 2) == [(28, 28), (14, 14), (7, 7)]
    assert level_sizes(8, 5, 3) == [(8, 5), (4, 3), (2, 2), (1, 1)]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2, 7, 5)])
def test_encoder_decoder_shapes_and_gradients(shape):
    torch.manual_seed(0)
    enc = ConvEncoder(shape, 6, channels=8, levels=2, dropout=0.1)
    dec = ConvDecoder(3, shape, 4 * shape[0], channels=8, levels=2, dropout=0.1)
    x = torch.randn(5, *shape)
    code = enc(x)
    assert code.shape == (5, 6)
    out = dec(code[:, :3])
    assert out.shape == (5, 4 * shape[0], *shape[1:])
    out.square().mean().backward()
    for net in (enc, dec):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_encoder_keeps_examples_apart():
    """No batch statistics: an example's code does not depend on the rest of the batch."""
    torch.manual_seed(0)
    enc = ConvEncoder((1, 8, 8), 4, channels=8).eval()
    x = torch.randn(6, 1, 8, 8)
    torch.testing.assert_close(enc(x)[:2], enc(x[:2]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "last"), [((1, 28, 28), (4, 4)), ((3, 32, 32), (4, 4)), ((1, 7, 5), (1, 1))]
)
def test_a_stride_2_stem_halves_the_input_before_the_levels(shape, last):
    torch.manual_seed(0)
    enc = ConvEncoder(shape, 6, channels=8, levels=2, stem=2)
    assert enc.features == 32 * last[0] * last[1]  # 8 -> 16 -> 32 channels at the last size
    x = torch.randn(3, *shape, requires_grad=True)
    assert enc(x).shape == (3, 6)
    assert enc.first(x).shape[-2:] == level_sizes(*shape[1:], 1)[-1]
    enc(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_stem_stride_is_1_or_2():
    with pytest.raises(ValueError, match="1 or 2"):
        ConvEncoder((1, 8, 8), 4, stem=3)
