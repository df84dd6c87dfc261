"""One contract test over every registered representation family (on digits):
loss and terms are finite scalars reaching every parameter, training lowers the loss,
and ``embed`` gives (N, embed_dim) independent of the rest of the batch."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from genlab import registry
from genlab.data import load_dataset
from genlab.family import get_family
from genlab.protocols import RepresentationModel

REPRESENTATION = [n for n in registry.FAMILIES if get_family(n).kind == "representation"]
TINY = {
    "embed_dim": 8,
    "channels": 4,
    "proj_dim": 8,
    "proj_hidden": 16,
    "decoder_hidden": 16,
    "head_hidden": 0,
}


def tiny_model(name: str, meta) -> torch.nn.Module:
    fam = get_family(name)
    names = {f.name for f in dataclasses.fields(fam.config)}
    torch.manual_seed(0)
    return fam.build(fam.config(**{k: v for k, v in TINY.items() if k in names}), meta)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_the_representation_families_are_registered():
    assert {"simclr", "rotation", "masked", "triplet"} <= set(REPRESENTATION)


@pytest.mark.parametrize("name", REPRESENTATION)
def test_loss_is_a_scalar_that_reaches_every_parameter(name, digits):
    model = tiny_model(name, digits.meta)
    assert isinstance(model, RepresentationModel)
    loss, terms = model.loss(digits.train.x[:32], digits.train.y[:32])
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))
    assert terms and all(v.ndim == 0 and math.isfinite(float(v)) for v in terms.values())
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", REPRESENTATION)
def test_thirty_steps_lower_the_loss(name, digits):
    model = tiny_model(name, digits.meta)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = digits.train.x[:64], digits.train.y[:64]
    losses = []
    for _ in range(30):
        # the same views and masks at every step: a fixed objective, so it must go down
        torch.manual_seed(0)
        loss, _ = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses


@pytest.mark.parametrize("name", REPRESENTATION)
def test_embed_is_n_by_embed_dim_and_independent_of_the_batch(name, digits):
    model = tiny_model(name, digits.meta).eval()
    x = digits.test.x[:10]
    with torch.no_grad():
        e = model.embed(x)
        alone = torch.cat([model.embed(x[i : i + 1]) for i in range(len(x))])
        again = model.embed(torch.cat([digits.test.x[20:25], x]))[5:]
    assert e.shape == (10, 8) and torch.isfinite(e).all()
    torch.testing.assert_close(e, alone)
    torch.testing.assert_close(e, again)
    # no augmentation: the same input gives the same embedding, whatever the RNG does
    torch.testing.assert_close(model.embed(x), e)
