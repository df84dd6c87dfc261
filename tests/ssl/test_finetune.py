"""The classifier family: label fractions, fine-tuning from a representation run,
freezing, errors."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError, DataError
from genlab.runs import load_data, load_run, make_config, train_run
from genlab.ssl.finetune import ClassifierConfig, build_classifier
from genlab.warm_start import warm_start

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)
TINY = {"model.channels": 4, "model.embed_dim": 8, "train.progress": False}


def test_label_fraction_keeps_a_balanced_train_subset_and_all_test():
    full = load_data(DataConfig())
    part = load_data(DataConfig(label_fraction=0.1, seed=3))
    assert len(part.test) == len(full.test) and 130 <= len(part.train) <= 160
    counts = torch.bincount(part.train.y, minlength=10)
    assert counts.min() >= 13 and counts.max() <= 19
    again = load_data(DataConfig(label_fraction=0.1, seed=3))
    assert torch.equal(again.train.x, part.train.x)
    few = load_data(DataConfig(label_fraction=0.001, classes=(0, 1)))
    assert torch.equal(few.train.y.sort().values, torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="label_fraction"):
        DataConfig(label_fraction=0.0)
    with pytest.raises(DataError, match="needs labels"):
        load_data(DataConfig(name="toy2d:moons", label_fraction=0.5))


def _load(run):
    loaded = load_run(run)
    return loaded.model, loaded.config.family


def _train(family, out, device, **extra):
    cfg = make_config(family, overrides={**TINY, "train.steps": 3, "train.device": device, **extra})
    return train_run(cfg, out, force=True)


def test_fine_tuning_starts_from_the_pretrained_encoder(tmp_path, device):
    pre = _train("simclr", tmp_path / "pre", device.type)
    encoder = load_run(pre).model.encoder.state_dict()
    cfg = ClassifierConfig(channels=4, embed_dim=8, init=str(pre))
    model = build_classifier(cfg, DIGITS)
    assert not torch.equal(model.encoder.net.first.weight, encoder["net.first.weight"])
    state = torch.get_rng_state()
    warm_start(model, _load)
    assert torch.equal(torch.get_rng_state(), state)  # training draws what it drew before
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder[name]), name
    # a saved classifier run holds its weights: loading never reads the init run again
    run = _train("classifier", tmp_path / "ft", device.type, **{"model.init": str(pre)})
    (pre / "model.safetensors").unlink()
    assert load_run(run).model.predict(torch.zeros(2, 1, 8, 8, dtype=torch.long)).shape == (2,)


def test_frozen_encoder_gets_no_gradient():
    model = build_classifier(ClassifierConfig(channels=4, embed_dim=8, freeze=True), DIGITS)
    x, y = torch.randint(0, 17, (6, 1, 8, 8)), torch.arange(6)
    loss, terms = model.loss(x, y)
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.head.weight.grad is not None and 0 <= float(terms["accuracy"]) <= 1


def test_cross_entropy_equals_the_definition():
    model = build_classifier(ClassifierConfig(channels=4, embed_dim=8), DIGITS).eval()
    x, y = torch.randint(0, 17, (5, 1, 8, 8)), torch.tensor([0, 3, 3, 9, 1])
    logits = model.logits(model.encoder.centered(x))
    naive = -sum(torch.log_softmax(logits[i], 0)[y[i]] for i in range(5)) / 5
    torch.testing.assert_close(model.loss(x, y)[0], naive)
    assert torch.equal(model.predict(x), logits.argmax(1))


def test_bad_init_runs_are_one_line_errors(tmp_path, device):
    with pytest.raises(ConfigError, match="no such run"):
        warm_start(build_classifier(ClassifierConfig(init=str(tmp_path / "nope")), DIGITS), _load)
    pre = _train("simclr", tmp_path / "pre", device.type)
    wide = build_classifier(ClassifierConfig(channels=8, embed_dim=8, init=str(pre)), DIGITS)
    with pytest.raises(ConfigError, match="model.channels=4"):
        warm_start(wide, _load)
    quiet = {"train.steps": 2, "train.progress": False, "train.device": device.type}
    pixels = train_run(make_config("pixelwise", overrides=quiet), tmp_path / "px", force=True)
    with pytest.raises(ConfigError, match="a pixelwise run has no shared encoder"):
        warm_start(build_classifier(ClassifierConfig(init=str(pixels)), DIGITS), _load)
    vectors = DataMeta("vectors", (64,), None, 10)
    other = build_classifier(ClassifierConfig(channels=4, embed_dim=8, init=str(pre)), vectors)
    with pytest.raises(ConfigError, match="reads data of shape"):
        warm_start(other, _load)
    with pytest.raises(ConfigError, match="labelled data"):
        build_classifier(ClassifierConfig(), DataMeta("toy", (2,), None, None))
