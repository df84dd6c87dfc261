from __future__ import annotations

import math

import pytest
import torch

from genlab.data import DataMeta, Dataset, Split
from genlab.errors import GenlabError
from genlab.metrics import TrainRecipe, get_feature_net
from genlab.metrics.features import (
    FEATURES,
    cache_path,
    dataset_fingerprint,
    epoch_batches,
    shift_augment,
    train_steps,
)

TINY = TrainRecipe(epochs=0, min_steps=15, batch_size=32)


def test_digits_feature_net_is_accurate(digits_feature_net) -> None:
    assert digits_feature_net.test_accuracy >= 0.97
    assert digits_feature_net.name == "shipped-featcnn-v3:digits"


def test_features_shape_and_dtype_handling(digits, digits_feature_net) -> None:
    feats = digits_feature_net.features(digits.test.x[:50])
    assert feats.shape == (50, FEATURES) and feats.dtype == torch.float32
    as_float = digits_feature_net.features(digits.test.x[:50].float())
    torch.testing.assert_close(feats, as_float)


def test_training_is_deterministic(digits, tmp_path) -> None:
    a = get_feature_net(digits, cache_dir=tmp_path / "a", recipe=TINY)
    b = get_feature_net(digits, cache_dir=tmp_path / "b", recipe=TINY)
    assert not a.from_cache and not b.from_cache
    assert a.name == f"local-featcnn-v3:digits-{dataset_fingerprint(digits, TINY)}"
    assert a.test_accuracy == b.test_accuracy
    assert torch.equal(a.features(digits.test.x), b.features(digits.test.x))


def test_weights_do_not_depend_on_the_thread_count(digits, tmp_path) -> None:
    one = get_feature_net(digits, cache_dir=tmp_path / "one", recipe=TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = get_feature_net(digits, cache_dir=tmp_path / "two", recipe=TINY)
        assert torch.get_num_threads() == 2  # training restores the caller's setting
    finally:
        torch.set_num_threads(threads)
    assert one.net is not None and two.net is not None
    for (key, a), b in zip(
        one.net.state_dict().items(), two.net.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key


def test_progress_bar_while_training_only(digits, tmp_path, capsys) -> None:
    get_feature_net(digits, cache_dir=tmp_path, recipe=TINY)
    err = capsys.readouterr().err
    assert "feature net (digits)" in err and "img/s" in err and "100%" in err
    assert get_feature_net(digits, cache_dir=tmp_path, recipe=TINY).from_cache
    assert capsys.readouterr().err == ""
    get_feature_net(digits, cache_dir=tmp_path / "quiet", recipe=TINY, progress=False)
    assert capsys.readouterr().err == ""


def test_second_call_loads_from_cache(digits, tmp_path, device) -> None:
    first = get_feature_net(digits, cache_dir=tmp_path, recipe=TINY)
    path = cache_path(digits.name, dataset_fingerprint(digits, TINY), tmp_path)
    stat = path.stat()
    second = get_feature_net(digits, cache_dir=tmp_path, recipe=TINY, device=device)
    assert not first.from_cache and second.from_cache
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert second.test_accuracy == first.test_accuracy
    torch.testing.assert_close(first.features(digits.test.x), second.features(digits.test.x))
    assert not list(path.parent.glob("*.tmp"))


def test_session_net_is_cached_under_genlab_cache(digits, digits_feature_net) -> None:
    again = get_feature_net(digits)  # GENLAB_CACHE points at the session folder
    assert again.from_cache and again.test_accuracy == digits_feature_net.test_accuracy


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all" * 10])
def test_corrupt_cache_is_retrained(digits, tmp_path, content: bytes) -> None:
    clean = get_feature_net(digits, cache_dir=tmp_path / "clean", recipe=TINY)
    path = cache_path(digits.name, dataset_fingerprint(digits, TINY), tmp_path / "bad")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    net = get_feature_net(digits, cache_dir=tmp_path / "bad", recipe=TINY)
    assert not net.from_cache
    assert torch.equal(net.features(digits.test.x), clean.features(digits.test.x))
    assert get_feature_net(digits, cache_dir=tmp_path / "bad", recipe=TINY).from_cache


def test_fingerprint_depends_on_data_and_recipe(digits) -> None:
    base = dataset_fingerprint(digits, TINY)
    assert base != dataset_fingerprint(digits, TrainRecipe())
    flipped = Dataset(digits.meta, Split(digits.train.x.flip(0), digits.train.y), digits.test)
    assert base != dataset_fingerprint(flipped, TINY)


def _synthetic(shape: tuple[int, ...], levels: int, labelled: bool = True) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, levels, (40, *shape), generator=g, dtype=torch.uint8)
    y = torch.arange(40) % 3 if labelled else None
    meta = DataMeta(name="folder:/some/path", shape=shape, levels=levels, num_classes=None)
    return Dataset(meta, Split(x, y), Split(x[:10], None if y is None else y[:10]))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_larger_images_work(shape: tuple[int, ...], tmp_path) -> None:
    ds = _synthetic(shape, 256)
    net = get_feature_net(
        ds, cache_dir=tmp_path, recipe=TrainRecipe(epochs=0, min_steps=2, batch_size=8)
    )
    assert net.features(ds.test.x).shape == (10, FEATURES)
    assert 0.0 <= net.test_accuracy <= 1.0
    assert len(list((tmp_path / "features").glob("folder_some_path-*.safetensors"))) == 1


def test_unlabelled_images_are_a_user_error(tmp_path) -> None:
    with pytest.raises(GenlabError, match="labelled dataset"):
        get_feature_net(_synthetic((1, 8, 8), 17, labelled=False), cache_dir=tmp_path)


def test_vector_data_use_raw_coordinates(tmp_path) -> None:
    x = torch.randn(30, 2)
    ds = Dataset(DataMeta("toy2d:moons", (2,), None, None), Split(x), Split(x[:5]))
    net = get_feature_net(ds, cache_dir=tmp_path)
    assert torch.equal(net.features(x), x) and math.isnan(net.test_accuracy)
    assert not (tmp_path / "features").exists()


def test_shift_augment_moves_by_at_most_one_pixel() -> None:
    x = torch.zeros(200, 1, 5, 5)
    x[:, 0, 2, 2] = 1.0
    out = shift_augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out.sum((1, 2, 3)), torch.ones(200))
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 5, where % 5
    assert set(rows.tolist()) == {1, 2, 3} and set(cols.tolist()) == {1, 2, 3}


def test_train_steps_follow_size_and_shape() -> None:
    recipe = TrainRecipe()
    assert train_steps(recipe, 1437, (1, 8, 8)) == 600  # digits: min_steps (53 epochs)
    assert train_steps(recipe, 60000, (1, 28, 28)) == math.ceil(3 * 60000 / 128)  # 3 epochs
    assert train_steps(recipe, 50000, (3, 32, 32)) == int(1.5e8 // (128 * 32 * 32))  # pixel cap
    assert train_steps(recipe, 10**6, (3, 4096, 4096)) == 1  # the cap wins, never 0 steps


def test_epoch_batches_see_every_image_once_per_epoch() -> None:
    batches = list(epoch_batches(10, 4, 5, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4] * 5
    flat = torch.cat(batches)
    for epoch in flat.split(10):
        assert sorted(epoch.tolist()) == list(range(10))


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", -1.0), ("min_steps", 0), ("batch_size", 1), ("lr", 0.0), ("label_smoothing", 1.0)],
)
def test_recipe_ranges_are_checked(field: str, value: float) -> None:
    with pytest.raises(GenlabError, match=field):
        TrainRecipe(**{field: value})


def test_images_below_4x4_are_a_user_error(tmp_path) -> None:
    with pytest.raises(GenlabError, match="at least 4x4"):
        get_feature_net(_synthetic((1, 3, 3), 17), cache_dir=tmp_path, recipe=TINY)
