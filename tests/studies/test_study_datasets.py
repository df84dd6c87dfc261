"""Studies on another dataset than digits: settings chosen by (budget, dataset), datasets
a study cannot use refused in one line before anything is written, and the cheap studies
run end to end on a tiny Fashion-MNIST in its official format (tests/conftest.py), their
protocol stating its facts and never the word digits."""

from __future__ import annotations

import json

import pytest

from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.studies import (
    contrastive,
    coupling,
    dequantization,
    get_study,
    reverse_steps,
    run_study,
    self_supervised,
    vae_vs_diffusion,
)
from genlab.studies.datasets import GENERIC, DataNeeds, check_data, data_slug, settings_for

ALL = (coupling, dequantization, reverse_steps, vae_vs_diffusion, self_supervised, contrastive)
FACTS = "fashion-mnist (1x28x28, 256 levels; train 300, test 80 images)"


@pytest.mark.parametrize("module", ALL, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_settings_by_dataset_then_budget(module):
    table = module.SETTINGS
    assert {"digits", GENERIC} <= set(table)
    for entry in table.values():
        assert set(entry) == {"quick", "full"}
    assert settings_for(table, "digits", "quick") is table["digits"]["quick"]
    fashion = table.get("fashion-mnist", table[GENERIC])
    assert settings_for(table, "fashion-mnist", "full") is fashion["full"]
    assert settings_for(table, "folder:/some/images", "quick") is table[GENERIC]["quick"]


def test_data_slug():
    assert data_slug("digits") == "digits" and data_slug("fashion-mnist") == "fashion-mnist"
    assert data_slug("folder:/a/b c") == "folder-a-b-c" and data_slug("toy2d:moons") == (
        "toy2d-moons"
    )


def test_check_data_names_what_is_missing():
    moons = load_dataset("toy2d:moons")
    check_data("coupling", DataNeeds(images=False), moons)
    check_data("contrastive", DataNeeds(classes=10), load_dataset("digits"))
    with pytest.raises(GenlabError, match="study x cannot run on toy2d:moons: it needs discrete"):
        check_data("x", DataNeeds(), moons)
    few = load_dataset("digits").restrict_classes((0, 1, 2))
    few = type(few)(few.meta.__class__("few", (1, 8, 8), 17, 3), few.train, few.test)
    with pytest.raises(GenlabError, match=r"labels of at least 10 classes \(it has 3 classes\)"):
        check_data("contrastive", get_study("contrastive").needs, few)


@pytest.mark.parametrize(
    ("study", "data", "message"),
    [
        ("coupling", "nosuchdata", "unknown dataset 'nosuchdata'"),
        ("contrastive", "toy2d:moons", "study contrastive cannot run on toy2d:moons"),
        ("self_supervised", "toy2d:moons", "study self_supervised cannot run on toy2d:moons"),
        ("dequantization", "fashion-mnist", "fashion-mnist not found"),
    ],
)
def test_a_dataset_the_study_cannot_use_is_one_error(tmp_path, study, data, message):
    with pytest.raises(GenlabError, match=message) as err:
        run_study(study, "quick", tmp_path / "s", "cpu", data=data)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "s").exists()


def saved_text(folder) -> tuple[dict, str]:
    saved = json.loads((folder / "results.json").read_text())
    return saved, json.dumps(saved)


def assert_on_fashion(saved: dict, text: str) -> None:
    assert saved["protocol"]["dataset"] == "fashion-mnist"
    assert FACTS in saved["protocol"]["data"]
    assert "digit" not in text.lower()


def test_coupling_on_fashion_mnist_times_its_dimension(tiny_fashion, tmp_path, monkeypatch):
    from test_coupling_study import TINY

    monkeypatch.setitem(coupling.SETTINGS, "fashion-mnist", {"quick": TINY})
    run_study("coupling", "quick", tmp_path / "c", "cpu", data="fashion-mnist")
    saved, text = saved_text(tmp_path / "c")
    assert_on_fashion(saved, text)
    assert saved["protocol"]["dims"] == [2, 4, 8, 784] and saved["evidence"]["max_dim"] == 784
    assert saved["evidence"]["data_dim"] == 784
    assert saved["evidence"]["max_abs_logdet_diff_nats"] < 1e-6


def test_contrastive_on_fashion_mnist(tiny_fashion, tmp_path, monkeypatch, device):
    from test_contrastive_study import TINY

    monkeypatch.setitem(contrastive.SETTINGS, "fashion-mnist", {"quick": TINY})
    run_study("contrastive", "quick", tmp_path / "r", device.type, data="fashion-mnist")
    saved, text = saved_text(tmp_path / "r")
    assert_on_fashion(saved, text)
    assert saved["claim"] == contrastive.CLAIM.format(data="fashion-mnist")
    assert "classes 0-4 of fashion-mnist" in saved["claim"]
    # 30 train and 8 test images per class: classes 0-4 train on 150, retrieve among 40
    assert "classes 0-4 (150)" in saved["protocol"]["data"]
    assert "classes 5-9 (unseen, 40 images)" in saved["protocol"]["retrieval"]
    assert "784 integer pixel values" in saved["protocol"]["retrieval"]
    assert saved["tables"][0]["title"] == "Retrieval on unseen and seen classes of fashion-mnist"
    assert 0 < saved["evidence"]["pixels_unseen_map_at_r"] <= 1


def test_self_supervised_on_fashion_mnist(tiny_fashion, tmp_path, monkeypatch, device):
    from test_self_supervised_study import TINY

    monkeypatch.setitem(self_supervised.SETTINGS, "fashion-mnist", {"quick": TINY})
    run_study("self_supervised", "quick", tmp_path / "r", device.type, data="fashion-mnist")
    saved, text = saved_text(tmp_path / "r")
    assert_on_fashion(saved, text)
    assert saved["claim"].startswith("On fashion-mnist, with 10% of the training labels")
    ev = saved["evidence"]
    # 30 images per class: 1% keeps one label per class, 10% three, 100% all 300
    assert [ev["labels_1pct"], ev["labels_10pct"], ev["labels_100pct"]] == [10, 30, 300]
    assert "whole TEST split (80 images)" in saved["protocol"]["data"]
    captions = " ".join(f["caption"] for f in saved["figures"])
    assert "Label efficiency on fashion-mnist" in captions and "images of fashion-mnist" in captions


def test_dequantization_on_fashion_mnist(tiny_fashion, tmp_path, monkeypatch, device):
    from test_dequantization_study import TINY

    monkeypatch.setitem(dequantization.SETTINGS, "fashion-mnist", {"quick": TINY})
    run_study("dequantization", "quick", tmp_path / "d", device.type, data="fashion-mnist")
    saved, text = saved_text(tmp_path / "d")
    assert_on_fashion(saved, text)
    assert saved["tables"][0]["note"].startswith("Bits/dim of fashion-mnist")
    assert 0 < saved["evidence"]["pixelwise_test_bpd"] < 8  # 256 levels: at most 8 bits
    assert saved["evidence"]["uniform_test_bpd_end"] > 0
