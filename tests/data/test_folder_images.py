"""folder:PATH datasets from PNG/JPEG files written with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import LoadOptions, load_dataset
from genlab.errors import DataError


def grey(value: int, size: tuple[int, int] = (6, 4)) -> np.ndarray:
    """A distinct (H, W) uint8 pattern per value, so images can be told apart."""
    h, w = size[1], size[0]
    return ((np.arange(h * w).reshape(h, w) * 7 + value * 31) % 256).astype(np.uint8)


def rgb(value: int) -> np.ndarray:
    return np.stack([grey(value), grey(value + 1), grey(value + 2)], -1)  # (H, W, 3)


def rows(split) -> set:
    labels = [None] * len(split) if split.y is None else split.y.tolist()
    return {(x.numpy().tobytes(), y) for x, y in zip(split.x, labels, strict=True)}


def both(ds) -> set:
    return rows(ds.train) | rows(ds.test)


def test_flat_grey_folder(tmp_path):
    for i in range(8):
        Image.fromarray(grey(i), mode="L").save(tmp_path / f"im{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", LoadOptions(test_fraction=0.25, seed=1))
    assert ds.name == f"folder:{tmp_path}" and ds.shape == (1, 4, 6)
    assert ds.levels == 256 and ds.num_classes is None and ds.train.y is None
    assert ds.train.x.dtype == torch.uint8 and (len(ds.train), len(ds.test)) == (6, 2)
    assert both(ds) == {(grey(i)[None].tobytes(), None) for i in range(8)}


def test_class_subfolders_rgb_and_jpeg(tmp_path):
    expected = set()
    for k, name in enumerate(["bird", "cat", "dog"]):  # sorted names give labels 0, 1, 2
        (tmp_path / name).mkdir()
        Image.fromarray(rgb(k), mode="RGB").save(tmp_path / name / "a.PNG")
        expected.add((rgb(k).transpose(2, 0, 1).tobytes(), k))
    Image.fromarray(grey(9), mode="L").save(tmp_path / "cat" / "b.png")  # grey -> 3 channels
    expected.add((np.stack([grey(9)] * 3).tobytes(), 1))
    flat = np.broadcast_to(np.array([200, 40, 90], np.uint8), (4, 6, 3)).copy()
    Image.fromarray(flat, mode="RGB").save(tmp_path / "dog" / "c.JPG", quality=95)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    ds = load_dataset(f"folder:{tmp_path}", LoadOptions(test_fraction=0.2))
    assert ds.shape == (3, 4, 6) and ds.num_classes == 3 and ds.train.y.dtype == torch.int64
    got = both(ds)
    assert expected < got and len(got) == 5
    jpeg = [x for x, y in got - expected][0]
    assert [y for x, y in got - expected] == [2]
    diff = np.frombuffer(jpeg, np.uint8).astype(int) - flat.transpose(2, 0, 1).ravel()
    assert np.abs(diff).max() <= 4  # lossy, but the same picture


def test_mode_1_counts_as_grey(tmp_path):
    Image.fromarray(grey(0) > 100).convert("1").save(tmp_path / "a.png")
    Image.fromarray(grey(1), mode="L").save(tmp_path / "b.png")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.shape == (1, 4, 6)
    assert set(torch.cat([ds.train.x, ds.test.x]).unique().tolist()) > {0, 255}


def test_seeded_split(tmp_path):
    for i in range(10):
        Image.fromarray(grey(i), mode="L").save(tmp_path / f"{i}.png")

    def test_rows(seed, fraction=0.3):
        ds = load_dataset(f"folder:{tmp_path}", LoadOptions(seed=seed, test_fraction=fraction))
        assert len(ds.test) == round(10 * fraction) or fraction == 0
        return rows(ds.test)

    assert test_rows(0) == test_rows(0)
    assert test_rows(0) != test_rows(1)
    assert len(test_rows(0, fraction=0.0)) == 1  # at least one image in each split


def test_sizes_must_match_unless_resized(tmp_path):
    Image.fromarray(grey(0, (6, 4)), mode="L").save(tmp_path / "a.png")
    Image.fromarray(rgb(1)[:3], mode="RGB").save(tmp_path / "b.jpeg")
    with pytest.raises(DataError, match="differ in size.*set data.image_size"):
        load_dataset(f"folder:{tmp_path}")
    ds = load_dataset(f"folder:{tmp_path}", LoadOptions(image_size=8))
    assert ds.shape == (3, 8, 8) and len(ds.train) == 1 and len(ds.test) == 1


@pytest.mark.parametrize("case", ["missing", "empty", "empty_class", "unreadable"])
def test_one_line_errors(tmp_path, case):
    root: Path = tmp_path / "imgs"
    if case != "missing":
        root.mkdir()
    if case == "empty_class":
        (root / "a").mkdir()
        (root / "b").mkdir()
        Image.fromarray(grey(0), mode="L").save(root / "a" / "x.png")
    if case == "unreadable":
        Image.fromarray(grey(0), mode="L").save(root / "good.png")
        (root / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError) as err:
        load_dataset(f"folder:{root}")
    msg = str(err.value)
    assert "\n" not in msg
    assert {
        "missing": "not found",
        "empty": "no PNG/JPEG",
        "empty_class": "b has no",
        "unreadable": "bad.png",
    }[case] in msg
