"""The shared representation backbone: shapes, batch independence, options, generators."""

from __future__ import annotations

import pytest
import torch

from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError
from genlab.nn.encoder import Encoder, EncoderConfig, spawn_generator

IMAGES = DataMeta("digits", (1, 8, 8), 17, 10)
RGB = DataMeta("cifar10", (3, 7, 5), 256, 10)  # odd sizes: the conv levels round up
VECTORS = DataMeta("toy2d:moons", (2,), None, None)


@pytest.mark.parametrize("meta", [IMAGES, RGB, VECTORS], ids=["digits", "rgb", "vectors"])
def test_embed_maps_data_to_n_by_embed_dim(meta):
    torch.manual_seed(0)
    enc = Encoder.from_config(EncoderConfig(embed_dim=6, channels=4, hidden=8), meta).eval()
    if meta.levels is None:
        x = torch.randn(5, *meta.shape)
    else:
        x = torch.randint(0, meta.levels, (5, *meta.shape))
    h = enc.embed(x)
    assert h.shape == (5, 6) and h.dtype == torch.float32 and torch.isfinite(h).all()
    # embed = forward of the centred batch: the one conversion is to_centered
    torch.testing.assert_close(h, enc(to_centered(x, meta.levels)))


def test_an_example_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    enc = Encoder.from_config(EncoderConfig(embed_dim=6, channels=4), IMAGES).eval()
    x = torch.randint(0, 17, (9, 1, 8, 8))
    alone = torch.cat([enc.embed(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(enc.embed(x), alone)
    torch.testing.assert_close(enc.embed(x.flip(0)).flip(0), alone)


@pytest.mark.parametrize(
    ("key", "value"),
    [("embed_dim", 0), ("channels", 0), ("blocks", 0), ("levels", -1), ("dropout", 1.0)],
)
def test_bad_backbone_options_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=f"model.{key}={value} is out of range"):
        EncoderConfig(**{key: value})


def test_spawned_generators_follow_the_global_seed():
    def draws() -> list[torch.Tensor]:
        return [torch.rand(3, generator=spawn_generator(torch.device("cpu"))) for _ in range(2)]

    torch.manual_seed(5)
    a = draws()
    torch.manual_seed(5)
    b = draws()
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[1])  # each call draws fresh numbers
