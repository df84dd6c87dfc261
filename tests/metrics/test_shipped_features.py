"""The feature networks that ship with genlab: found by the fingerprint of the data they
were trained on, SHA-256 checked, and giving the floor FD stored beside them on any
thread count (the point of shipping them: one feature space on every machine)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from genlab.data import LoadOptions, load_dataset
from genlab.errors import GenlabError
from genlab.metrics import get_feature_net, reference_values
from genlab.metrics.features import ARCH_VERSION, TrainRecipe, dataset_fingerprint
from genlab.metrics.shipped import MANIFEST, find_shipped, read_manifest, sha256_of

FASHION = "/usr/share/datasets"


def shipped_datasets() -> list[str]:
    return sorted(read_manifest().get(ARCH_VERSION, {}))


def test_digits_and_fashion_mnist_ship_weights():
    assert {"digits", "fashion-mnist"} <= set(shipped_datasets())
    for name, entry in read_manifest()[ARCH_VERSION].items():
        path = MANIFEST.parent / entry["file"]
        assert sha256_of(path) == entry["sha256"], name
        assert entry["floor_fd_1000_train_vs_test"] > 0 and 0.5 < entry["test_accuracy"] <= 1


def _dataset(name: str):
    if name == "fashion-mnist":
        try:
            return load_dataset(name, LoadOptions(data_dir=FASHION))
        except GenlabError:
            pytest.skip("Fashion-MNIST is not installed (make fashion-mnist)")
    return load_dataset(name)


@pytest.mark.parametrize("name", ["digits", "fashion-mnist"])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_floor_fd_is_the_stored_one_on_one_and_two_threads(name, threads, tmp_path):
    dataset = _dataset(name)
    entry = read_manifest()[ARCH_VERSION][name]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = get_feature_net(dataset, cache_dir=tmp_path)
        floor = reference_values(dataset, n=1000, seed=0, metrics=["fd"])
    finally:
        torch.set_num_threads(before)
    assert net.name == f"shipped-{ARCH_VERSION}:{name}" and net.from_cache
    assert not (tmp_path / "features").exists()  # nothing trained, nothing cached
    assert floor["fd"] == pytest.approx(entry["floor_fd_1000_train_vs_test"], rel=1e-5)
    assert net.test_accuracy == entry["test_accuracy"]


def test_other_data_or_recipe_train_locally_and_say_so(tmp_path):
    digits = load_dataset("digits")
    tiny = TrainRecipe(epochs=0, min_steps=5, batch_size=32)
    assert find_shipped(ARCH_VERSION, "digits", dataset_fingerprint(digits, tiny)) is None
    net = get_feature_net(digits, cache_dir=tmp_path, recipe=tiny, progress=False)
    assert net.name.startswith("local-featcnn-v3:digits-") and not net.from_cache


def test_weights_that_fail_their_checksum_are_refused(tmp_path, monkeypatch):
    """Planted: one flipped byte in a copy of the shipped weights."""
    import genlab.metrics.shipped as shipped

    copy = tmp_path / "weights"
    shutil.copytree(MANIFEST.parent, copy)
    entry = read_manifest()[ARCH_VERSION]["digits"]
    blob = bytearray((copy / entry["file"]).read_bytes())
    blob[-1] ^= 0xFF
    (copy / entry["file"]).write_bytes(bytes(blob))
    monkeypatch.setattr(shipped, "MANIFEST", copy / "features.json")
    monkeypatch.setattr(
        "genlab.metrics.features.find_shipped",
        lambda *a: shipped.find_shipped(*a, manifest=copy / "features.json"),
    )
    with pytest.raises(GenlabError, match="fail their SHA-256 check.*reinstall"):
        get_feature_net(load_dataset("digits"), cache_dir=tmp_path)
    assert json.loads((copy / "features.json").read_text()) == read_manifest()
