"""U-Net, timestep embedding and 2-d self-attention: shapes, gradients to every parameter,
independence of examples, class conditioning, the sinusoidal embedding against a loop."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.nn.attention import SelfAttention2d
from genlab.nn.embeddings import TimestepEmbedding, sinusoidal_embedding
from genlab.nn.unet import UNet

# (in_channels, size, out_channels, kwargs): digits default, MNIST-like odd sizes, CIFAR-like
CASES = [
    (1, 8, None, {}),
    (1, 28, 2, {"channels": 8, "multipliers": (1, 2, 2), "attention": (1, 2)}),
    (3, 32, None, {"channels": 8, "multipliers": (1, 2, 2, 2), "blocks": 2, "heads": 2}),
]


def _small(in_channels: int, out_channels: int | None, kwargs: dict, **extra) -> UNet:
    torch.manual_seed(0)
    return UNet(in_channels, out_channels, **kwargs, **extra)


@pytest.mark.parametrize(("c", "size", "c_out", "kwargs"), CASES)
def test_output_shape(c, size, c_out, kwargs):
    net = _small(c, c_out, kwargs)
    x = torch.randn(2, c, size, size)
    out = net(x, torch.tensor([0, 999]))
    assert out.shape == (2, c_out or c, size, size)
    assert net(x, torch.tensor([0.5, 1000.0])).shape == out.shape  # float timesteps


@pytest.mark.parametrize(("c", "size", "c_out", "kwargs"), CASES)
def test_gradients_reach_every_parameter(c, size, c_out, kwargs):
    net = _small(c, c_out, kwargs, num_classes=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, t, y = torch.randn(3, c, size, size), torch.tensor([1, 500, 1000]), torch.tensor([0, 1, 2])
    target = torch.randn(3, c_out or c, size, size)
    for step in range(2):
        opt.zero_grad()
        (net(x, t, y) - target).square().mean().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            # zero-initialised layers block some gradients only until one step has moved them
            assert step == 0 or p.grad.abs().sum() > 0, name
        opt.step()


def _perturb(net: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))


def test_examples_are_independent():
    net = _small(1, None, {}, num_classes=10)
    _perturb(net)
    net.eval()
    x, t, y = (
        torch.randn(4, 1, 8, 8),
        torch.tensor([3, 300, 700, 1000]),
        torch.tensor([0, 9, 10, 4]),
    )
    batch = net(x, t, y)
    single = torch.cat([net(x[i : i + 1], t[i : i + 1], y[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-4)


def test_class_conditioning():
    net = _small(1, None, {}, num_classes=10)
    _perturb(net)  # at init the zero convs hide the embedding from the output
    net.eval()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([100, 600])
    out0 = net(x, t, torch.tensor([0, 0]))
    assert (out0 - net(x, t, torch.tensor([1, 1]))).abs().amax() > 1e-4
    torch.testing.assert_close(net(x, t), net(x, t, torch.tensor([10, 10])))
    with pytest.raises(AssertionError):
        UNet(1)(x, t, torch.tensor([0, 1]))  # an unconditional net refuses labels


def test_sinusoidal_embedding_matches_its_definition():
    t = torch.tensor([0.0, 1.0, 17.5, 999.0], dtype=torch.float64)
    for dim in (8, 7):
        emb = sinusoidal_embedding(t, dim, max_period=1000.0)
        half = dim // 2
        expected = torch.zeros(len(t), dim, dtype=torch.float64)
        for n in range(len(t)):
            for i in range(half):
                arg = t[n].item() * math.exp(-math.log(1000.0) * i / half)
                expected[n, i] = math.sin(arg)
                expected[n, half + i] = math.cos(arg)
        torch.testing.assert_close(emb, expected)
    assert sinusoidal_embedding(torch.tensor([5, 6]), 4).dtype == torch.float32  # long t


def test_timestep_embedding_and_attention_shapes():
    assert TimestepEmbedding(16, 32)(torch.tensor([1, 2, 3])).shape == (3, 32)
    attn = SelfAttention2d(8, heads=2, groups=4)
    x = torch.randn(2, 8, 3, 5)
    torch.testing.assert_close(attn(x), x)  # zero output projection: starts as identity
    _perturb(attn)
    attn.eval()
    torch.testing.assert_close(attn(x)[:1], attn(x[:1]))
