"""The flow family's defaults by data: large images get a cheap multi-scale flow and a
run that fits ~15 minutes of one CPU thread; digits keep exactly what was tuned on them
(the README's bits/dim), vectors are untouched."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from genlab.data.dataset import DataMeta
from genlab.flows import FAMILY, LARGE_IMAGES
from genlab.flows.architectures import FLAT_MAX
from genlab.runs import make_config

FASHION = DataMeta("fashion-mnist", (1, 28, 28), 256, 10)
CIFAR = DataMeta("cifar10", (3, 32, 32), 256, 10)
DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)
MOONS = DataMeta("toy2d:moons", (2,), None, None)


@pytest.mark.parametrize("meta", [FASHION, CIFAR], ids=["28x28", "3x32x32"])
def test_large_images_get_the_large_image_defaults(meta):
    assert meta.dims > FLAT_MAX
    found = FAMILY.data_defaults(meta, 54_000)
    assert {k: found[k] for k in LARGE_IMAGES} == dict(LARGE_IMAGES)
    assert found["model.dropout"] == 0.0


@pytest.mark.parametrize("meta", [DIGITS, MOONS], ids=["digits", "moons"])
def test_small_data_get_no_architecture_defaults(meta):
    found = FAMILY.data_defaults(meta, 1437)
    assert not set(found) & set(LARGE_IMAGES)


def test_digits_resolve_to_the_values_of_the_readme_numbers():
    """The config behind realnvp 2.003 / glow 2.015 / nsf 1.885 test bits/dim at 3000 steps."""
    cfg = make_config("flow", overrides={"data.name": "digits"})
    model = {
        "preset": "realnvp",
        "conditioner": "auto",
        "steps": 4,
        "scales": 2,
        "hidden": 256,
        "channels": 64,
        "blocks": 2,
        "norm": "group",
        "dropout": 0.4,
        "bins": 8,
    }
    train = {
        "steps": 3000,
        "batch_size": 128,
        "lr": 1e-3,
        "warmup": 100,
        "weight_decay": 0.1,
        "grad_clip": 10.0,
        "ema": 0.995,
        "eval_every": 100,
    }
    assert {k: asdict(cfg.model)[k] for k in model} == model
    assert {k: asdict(cfg.train)[k] for k in train} == train
