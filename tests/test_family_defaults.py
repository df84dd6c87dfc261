"""Defaults by data: dataclass < family < data shape/size < dataset preset < the user."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genlab.data.idx import IDX_FILES
from genlab.family import SMALL_DATA
from genlab.runs import make_config


def _write_fashion(root, n_train: int) -> None:
    """A Fashion-MNIST folder of ``n_train`` blank train images (shape and size only)."""
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    sizes = {"train": n_train, "t10k": 10}
    for name in IDX_FILES:
        n = sizes[name.split("-")[0]]
        shape = (n, 28, 28) if "images" in name else (n,)
        head = bytes([0, 0, 0x08, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
        data = head + np.zeros(shape, dtype=np.uint8).tobytes()
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))


def test_digits_keeps_the_values_tuned_on_it():
    flow = make_config("flow", overrides={"data.name": "digits"})
    assert (flow.model.dropout, flow.train.weight_decay, flow.train.eval_every) == (0.4, 0.1, 100)
    vae = make_config("vae", overrides={"data.name": "digits"})
    assert (vae.model.dropout, vae.train.weight_decay) == (0.3, 0.1)
    diffusion = make_config("diffusion", overrides={"data.name": "digits"})
    assert (diffusion.model.nll_timesteps, diffusion.model.channels) == (32, 24)


@pytest.mark.parametrize("n_train", [SMALL_DATA - 1, SMALL_DATA])
def test_regularisation_follows_the_training_split_size(tmp_path, n_train):
    _write_fashion(tmp_path, n_train)
    over = {"data.name": "fashion-mnist", "data.data_dir": str(tmp_path)}
    small = n_train < SMALL_DATA
    flow = make_config("flow", overrides=over)
    assert flow.model.dropout == (0.4 if small else 0.0)
    assert flow.train.weight_decay == (0.1 if small else 0.0)
    assert flow.train.eval_every == 250  # the digits preset applies to digits only
    vae = make_config("vae", overrides=over)
    assert vae.model.dropout == (0.3 if small else 0.0)
    assert vae.train.steps == (5000 if small else 20_000)
    diffusion = make_config("diffusion", overrides=over)
    assert diffusion.model.nll_timesteps == 6
    assert (diffusion.model.channels, diffusion.model.multipliers) == (16, (1, 2, 2))


def test_the_user_overrides_every_layer(tmp_path):
    cfg = make_config("flow", overrides={"data.name": "digits", "model.dropout": "0.1"})
    assert cfg.model.dropout == 0.1
    cfg = make_config("flow", overrides={"data.name": "digits", "train.eval_every": "7"})
    assert cfg.train.eval_every == 7
