"""Over every registered representation family: a run folder rebuilds the same embedding
(the loss and embed contracts are in tests/ssl/test_representation_contract.py)."""

from dataclasses import replace

import pytest
import torch

from genlab import registry
from genlab.data import load_dataset
from genlab.family import get_family
from genlab.runs import load_run, make_config, train_run

REPRESENTATION = [n for n in registry.FAMILIES if get_family(n).kind == "representation"]
SMALL = {"model.channels": 4, "model.embed_dim": 8}


@pytest.mark.parametrize("name", REPRESENTATION)
def test_a_run_folder_rebuilds_the_same_embedding(name, tmp_path, device):
    overrides = {**SMALL, "train.steps": 4, "train.progress": False, "train.device": device.type}
    cfg = make_config(name, overrides=overrides)
    train_run(cfg, tmp_path / "run")
    loaded = load_run(tmp_path / "run", device=device)
    # the run records the threads it used (train.threads=0 asks for the default)
    used = loaded.config.train.threads
    assert used >= 1 and loaded.config == replace(cfg, train=replace(cfg.train, threads=used))
    x = load_dataset("digits").test.x[:16].to(device)
    with torch.no_grad():
        a = loaded.model.embed(x)
        b = load_run(tmp_path / "run", device=device).model.embed(x)
    torch.testing.assert_close(a, b)
