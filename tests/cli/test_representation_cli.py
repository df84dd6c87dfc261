"""The representation families through the command line: train, then load and embed."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data import load_dataset

TINY = ["model.embed_dim=8", "model.channels=4", "train.batch_size=32", "train.eval_every=2"]
EXTRA = {
    "simclr": ["model.proj_dim=8", "model.proj_hidden=16"],
    "rotation": [],
    "masked": ["model.decoder_hidden=16"],
    "triplet": ["model.miner=semi_hard"],
}


@pytest.mark.parametrize("family", sorted(EXTRA))
def test_train_three_steps_then_load_and_embed(cli, tmp_path, device, family):
    run = tmp_path / family
    args = ["train", family, "--data", "digits", "--steps", 3, "--out", run, "--quiet"]
    res = cli(*args, "--device", device.type, *TINY, *EXTRA[family])
    assert res.code == 0, res.err
    assert (run / "config.yaml").is_file() and (run / "model.safetensors").is_file()
    loaded = genlab.load_run(run)
    assert loaded.config.family == family and loaded.weights == "best"  # val every 2 steps
    x = load_dataset("digits").test.x[:5]
    with torch.no_grad():
        e = loaded.model.embed(x)
        again = genlab.load(run).embed(x)
    assert e.shape == (5, 8) and torch.isfinite(e).all()
    torch.testing.assert_close(e, again)


def test_triplet_on_data_without_labels_is_one_line(cli, tmp_path):
    run = tmp_path / "t"
    res = cli("train", "triplet", "--data", "toy2d:moons", "--steps", 3, "--out", run, "--quiet")
    res.error_line("needs class labels")
    assert not run.exists()
