"""SimCLR: the loss is NT-Xent of the two views' projections, views drawn reproducibly."""

from __future__ import annotations

import pytest
import torch

from genlab.data import load_dataset
from genlab.data.augment import default_augment, two_views
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError
from genlab.nn.contrastive import NTXentLoss
from genlab.ssl.simclr import SimCLRConfig, build_simclr, pair_accuracy

CFG = SimCLRConfig(embed_dim=8, channels=4, proj_dim=6, proj_hidden=16, temperature=0.3)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return load_dataset("digits").train.x[:24]


def model(meta: DataMeta | None = None):
    torch.manual_seed(0)
    return build_simclr(CFG, meta or DataMeta("digits", (1, 8, 8), 17, 10))


def test_loss_is_nt_xent_of_the_projected_views_by_hand(batch):
    m = model()
    loss, terms = m.loss(batch, generator=torch.Generator().manual_seed(3))
    # the same views drawn by hand, each projected on its own: encoder, then head
    v1, v2 = two_views(
        to_centered(batch, 17),
        default_augment("digits"),
        generator=torch.Generator().manual_seed(3),
    )
    z1, z2 = m.head(m.encoder(v1)), m.head(m.encoder(v2))
    torch.testing.assert_close(loss, NTXentLoss(0.3)(z1, z2))
    torch.testing.assert_close(terms["pair_acc"], pair_accuracy(z1, z2))


def test_views_are_drawn_from_the_global_seed_when_no_generator_is_given(batch):
    m = model()
    torch.manual_seed(1)
    a = m.loss(batch)[0]
    torch.manual_seed(1)
    b = m.loss(batch)[0]
    c = m.loss(batch)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pair_accuracy_against_a_loop():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(7, 3, generator=g)
    z2 = z1 + 0.8 * torch.randn(7, 3, generator=g)
    z = torch.cat([z1, z2])
    hits = 0
    for i in range(14):
        sims = [float(torch.cosine_similarity(z[i], z[j], dim=0)) for j in range(14)]
        sims[i] = -float("inf")
        hits += max(range(14), key=sims.__getitem__) == (i + 7) % 14
    assert float(pair_accuracy(z1, z2)) == pytest.approx(hits / 14)


def test_embed_is_the_encoder_output_before_the_head(batch):
    m = model().eval()
    torch.testing.assert_close(m.embed(batch), m.encoder(to_centered(batch, 17)))


def test_vectors_and_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="images"):
        build_simclr(CFG, DataMeta("toy2d:moons", (2,), None, None))
    with pytest.raises(ConfigError, match="model.temperature"):
        build_simclr(SimCLRConfig(temperature=0.0), DataMeta("digits", (1, 8, 8), 17, 10))
