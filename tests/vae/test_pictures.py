"""VAE pictures: interpolation end points are the reconstructions, and traversals move one
latent dimension at a time."""

from __future__ import annotations

import torch

from genlab.data import load_dataset
from genlab.data.dataset import DataMeta
from genlab.vae import VAEConfig, build_vae
from genlab.vae.pictures import interpolations, reconstructions, traversals

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)


def model():
    torch.manual_seed(0)
    return build_vae(VAEConfig(latent=4, hidden=32), DIGITS).eval()


def test_interpolation_ends_are_the_reconstructions():
    m = model()
    x = load_dataset("digits").test.x[:6]
    path = interpolations(m, x[:3], x[3:], steps=5).view(3, 5, 1, 8, 8)
    assert torch.equal(path[:, 0], m.reconstruct(x[:3]))
    assert torch.equal(path[:, -1], m.reconstruct(x[3:]))
    pairs = reconstructions(m, x[:2])
    assert torch.equal(pairs[0::2], x[:2].long()) and torch.equal(pairs[1::2], m.reconstruct(x[:2]))


def test_traversals_change_one_latent_dimension_per_row(monkeypatch):
    m = model()
    seen = []
    decode = m.decode
    monkeypatch.setattr(m, "decode", lambda z: seen.append(z.clone()) or decode(z))
    x = load_dataset("digits").test.x[:1]
    out = traversals(m, x, dims=3)
    assert out.shape == (27, 1, 8, 8)
    z, (mu, _) = seen[0], m.encode(x)
    for d in range(3):
        rows = z[d * 9 : (d + 1) * 9]
        others = [j for j in range(4) if j != d]
        assert torch.equal(rows[:, others], mu[:, others].expand(9, -1))
        torch.testing.assert_close(rows[:, d], torch.linspace(-2.5, 2.5, 9))
