"""One contract test over every registered representation family (on digits): a loss
that reaches every parameter, an embedding that depends on each example alone, a run
folder that rebuilds the same embedding."""

import math

import pytest
import torch

from genlab import registry
from genlab.data import load_dataset
from genlab.family import get_family
from genlab.protocols import RepresentationModel
from genlab.runs import load_run, make_config, train_run

REPRESENTATION = [n for n in registry.FAMILIES if get_family(n).kind == "representation"]
SMALL = {"model.channels": 4, "model.embed_dim": 8}


def test_the_issue_families_are_registered():
    assert {"simclr", "rotation", "masked", "triplet", "classifier"} <= set(REPRESENTATION)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _build(name, meta):
    fam = get_family(name)
    return fam.build(fam.config(channels=4, embed_dim=8), meta)


@pytest.mark.parametrize("name", REPRESENTATION)
def test_loss_is_a_scalar_that_reaches_every_parameter(name, digits):
    model = _build(name, digits.meta)
    assert isinstance(model, RepresentationModel)
    torch.manual_seed(0)
    loss, terms = model.loss(digits.train.x[:64], digits.train.y[:64])
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))
    assert all(v.ndim == 0 for v in terms.values())
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", REPRESENTATION)
def test_embedding_depends_on_each_example_alone(name, digits):
    model = _build(name, digits.meta).eval()
    x = digits.test.x[:12]
    with torch.no_grad():
        emb = model.embed(x)
        alone = torch.cat([model.embed(x[i : i + 1]) for i in range(len(x))])
    assert emb.shape == (12, 8) and torch.isfinite(emb).all()
    torch.testing.assert_close(emb, alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(emb[0], emb[1])


@pytest.mark.parametrize("name", REPRESENTATION)
def test_a_run_folder_rebuilds_the_same_embedding(name, tmp_path, device):
    overrides = {**SMALL, "train.steps": 4, "train.progress": False, "train.device": device.type}
    cfg = make_config(name, overrides=overrides)
    train_run(cfg, tmp_path / "run")
    loaded = load_run(tmp_path / "run", device=device)
    assert loaded.config == cfg
    x = load_dataset("digits").test.x[:16].to(device)
    with torch.no_grad():
        a = loaded.model.embed(x)
        b = load_run(tmp_path / "run", device=device).model.embed(x)
    torch.testing.assert_close(a, b)
