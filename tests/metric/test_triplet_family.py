"""The triplet family: its loss is the configured metric loss of its embeddings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.data import load_dataset
from genlab.data.augment import augment
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.metric import (
    BatchAllMiner,
    BatchHardMiner,
    Cosine,
    Euclidean,
    RandomMiner,
    SemiHardMiner,
    TripletConfig,
    build_triplet,
    geometry_stress,
    make_miner,
    supervised_nt_xent,
    triplet_margin_loss,
)
from genlab.metric.model import JITTER

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)
TINY = {"embed_dim": 8, "channels": 4, "augment": False, "anchor": 0.0, "invariance": 0.0}


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    train = load_dataset("digits").train
    return train.x[:40], train.y[:40]


def model(**options):
    torch.manual_seed(0)
    return build_triplet(TripletConfig(**{**TINY, **options}), DIGITS)


@pytest.mark.parametrize("miner", ["random", "batch_hard", "batch_all", "semi_hard"])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_loss_is_the_triplet_loss_of_the_embeddings(batch, miner, distance):
    x, y = batch
    m = model(miner=miner, distance=distance, margin=0.3)
    dist = Euclidean() if distance == "euclidean" else Cosine()
    torch.manual_seed(2)  # the random miner draws from the global generator
    loss, terms = m.loss(x, y)
    e = F.normalize(m.encoder(to_centered(x, 17)), dim=1)
    torch.manual_seed(2)
    want, stats = triplet_margin_loss(
        e, y, margin=0.3, distance=dist, miner=make_miner(miner, 0.3, dist)
    )
    torch.testing.assert_close(loss, want)
    assert float(terms["active_fraction"]) == pytest.approx(stats["active_fraction"])
    assert 0.0 <= float(terms["active_fraction"]) <= 1.0


def test_miner_names_build_the_miners():
    d = Cosine()
    assert make_miner("random", 0.2, d) == RandomMiner(distance=d)
    assert make_miner("batch_hard", 0.2, d) == BatchHardMiner(distance=d)
    assert make_miner("batch_all", 0.2, d) == BatchAllMiner(margin=0.2, distance=d)
    assert make_miner("semi_hard", 0.2, d) == SemiHardMiner(margin=0.2, distance=d)
    with pytest.raises(ConfigError, match="model.miner"):
        make_miner("hardest", 0.2, d)


def test_ntxent_option_is_the_supervised_nt_xent(batch):
    x, y = batch
    m = model(loss="ntxent", temperature=0.5, normalize=False)
    loss, _ = m.loss(x, y)
    e = m.encoder(to_centered(x, 17))
    torch.testing.assert_close(loss, supervised_nt_xent(e, y, 0.5))


def test_embed_is_normalised_when_asked(batch):
    x, _ = batch
    assert torch.allclose(model(normalize=True).eval().embed(x).norm(dim=1), torch.ones(40))
    raw = model(normalize=False).eval()
    torch.testing.assert_close(raw.embed(x), raw.encoder(to_centered(x, 17)))


def test_augmentation_applies_in_training_only(batch):
    x, y = batch
    m = model(augment=True)
    m.eval()
    assert torch.equal(m.loss(x, y)[0], m.loss(x, y)[0])
    m.train()
    a = m.loss(x, y, generator=torch.Generator().manual_seed(0))[0]
    b = m.loss(x, y, generator=torch.Generator().manual_seed(1))[0]
    assert not torch.equal(a, b)


def test_data_without_labels_is_a_one_line_error(batch):
    unlabelled = DataMeta("toy2d:moons", (2,), None, None)
    with pytest.raises(ConfigError, match="needs class labels") as err:
        build_triplet(TripletConfig(augment=False), unlabelled)
    assert "\n" not in str(err.value)
    with pytest.raises(GenlabError, match="needs class labels"):
        model().loss(batch[0], None)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="model.augment"):
        build_triplet(TripletConfig(augment=True), DataMeta("vec", (4,), None, 3))
    with pytest.raises(ConfigError, match="model.margin"):
        build_triplet(TripletConfig(miner="semi_hard", margin=0.0), DIGITS)
    with pytest.raises(ConfigError, match="model.temperature"):
        build_triplet(TripletConfig(temperature=0.0), DIGITS)


def naive_stress(e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The stress by a loop over ordered pairs i != j."""
    pairs = [(i, j) for i in range(len(e)) for j in range(len(e)) if i != j]
    de = torch.stack([(e[i] - e[j]).norm() for i, j in pairs])
    dx = torch.stack([(x[i] - x[j]).norm() for i, j in pairs])
    terms = [(a / de.mean() - b / dx.mean()) ** 2 for a, b in zip(de, dx, strict=True)]
    return sum(terms) / len(pairs)


def test_geometry_stress_against_a_loop_and_an_isometry():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    e = torch.randn(12, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(geometry_stress(e, x), naive_stress(e, x))
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    # a rotation, a scale and a shift keep every distance ratio: zero stress
    assert float(geometry_stress(3.0 * x @ q + 1.0, x)) < 1e-20
    assert float(geometry_stress(e, x)) > 0.01


def test_anchor_and_invariance_terms_add_to_the_metric_loss(batch):
    x, y = batch
    m = model(augment=True, anchor=2.0, invariance=3.0, margin=0.3).train()
    loss, terms = m.loss(x, y, generator=torch.Generator().manual_seed(5))
    # the same draws by hand: view 1 for the metric loss and the stress, then view 2
    g = torch.Generator().manual_seed(5)
    h = to_centered(x, 17)
    v1, v2 = augment(h, JITTER, generator=g), augment(h, JITTER, generator=g)
    e1, e2 = (F.normalize(m.encoder(v), dim=1) for v in (v1, v2))
    dist = Euclidean()
    metric, _ = triplet_margin_loss(
        e1, y, margin=0.3, distance=dist, miner=make_miner("batch_all", 0.3, dist)
    )
    stress = naive_stress(e1, h.flatten(1))
    views = (e1 - e2).square().sum(1).mean()
    torch.testing.assert_close(loss, metric + 2.0 * stress + 3.0 * views)
    torch.testing.assert_close(terms["stress"], stress)
    torch.testing.assert_close(terms["view_distance"], views)
    # evaluation: no jitter, so no view term; the stress is of the clean images
    m.eval()
    loss, terms = m.loss(x, y)
    assert "view_distance" not in terms
    e = F.normalize(m.encoder(h), dim=1)
    torch.testing.assert_close(terms["stress"], naive_stress(e, h.flatten(1)))


def test_negative_term_weights_are_one_line_errors():
    for key in ("anchor", "invariance"):
        with pytest.raises(ConfigError, match=f"model.{key}=-1.0 is out of range") as err:
            build_triplet(TripletConfig(**{key: -1.0}), DIGITS)
        assert "\n" not in str(err.value)
