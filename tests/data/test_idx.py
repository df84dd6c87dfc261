"""MNIST / Fashion-MNIST IDX files written in the real format, raw and gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import LoadOptions, dataset_available, load_dataset
from genlab.data.idx import IDX_FILES
from genlab.errors import DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    dims = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return bytes([0, 0, 0x08, arr.ndim]) + dims + arr.astype(np.uint8).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    data = idx_bytes(arr)
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist(folder: Path, gz: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz)
    return arrays


def check_round_trip(ds, arrays: dict[str, np.ndarray]) -> None:
    assert ds.shape == (1, 28, 28) and ds.levels == 256 and ds.num_classes == 10
    assert ds.train.x.dtype == torch.uint8 and ds.train.y.dtype == torch.int64
    assert ds.train.x.shape == (5, 1, 28, 28) and ds.test.x.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(ds.train.x[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.train.y.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.test.x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test.y.numpy(), arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("sub", ["mnist", "MNIST/raw", "."])
def test_mnist_round_trip(tmp_path, gz, sub):
    arrays = write_mnist(tmp_path / sub, gz=gz)
    ds = load_dataset("mnist", LoadOptions(data_dir=str(tmp_path)))
    assert ds.name == "mnist"
    check_round_trip(ds, arrays)


@pytest.mark.parametrize("sub", ["fashion-mnist", "FashionMNIST/raw", "fashion_mnist"])
def test_fashion_mnist_round_trip(tmp_path, sub):
    arrays = write_mnist(tmp_path / sub, gz=True, seed=1)
    ds = load_dataset("fashion-mnist", LoadOptions(data_dir=str(tmp_path)))
    assert ds.name == "fashion-mnist"
    check_round_trip(ds, arrays)


def test_gzip_detected_by_content_not_extension(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path / "mnist")
    images = tmp_path / "mnist" / "train-images-idx3-ubyte"
    images.write_bytes(gzip.compress(images.read_bytes()))  # gzipped, no .gz suffix
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))  # no data_dir: the env var is used
    check_round_trip(load_dataset("mnist"), arrays)


def test_missing_files_named_with_where_to_put_them(tmp_path):
    opts = LoadOptions(data_dir=str(tmp_path))
    with pytest.raises(DataError) as err:
        load_dataset("mnist", opts)
    msg = str(err.value)
    assert all(name in msg for name in IDX_FILES)
    assert "--data-dir" in msg and "GENLAB_DATA" in msg and str(tmp_path / "mnist") in msg
    assert "\n" not in msg


def test_dataset_available(tmp_path):
    opts = LoadOptions(data_dir=str(tmp_path))
    ok, reason = dataset_available("mnist", opts)
    assert not ok and "train-images-idx3-ubyte" in reason
    write_mnist(tmp_path / "mnist", gz=True)
    assert dataset_available("mnist", opts) == (True, str((tmp_path / "mnist").absolute()))
    assert not dataset_available("fashion-mnist", opts)[0]


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file(tmp_path, gz):
    write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    data = path.read_bytes()[:1000]
    path.unlink()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(
        DataError, match=r"idx3-ubyte(\.gz)? is truncated: expected 3936 bytes, got 1000"
    ):
        load_dataset("mnist", LoadOptions(data_dir=str(tmp_path)))


def test_broken_gzip_stream(tmp_path):
    write_mnist(tmp_path / "mnist", gz=True)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is not a valid gzip file"):
        load_dataset("mnist", LoadOptions(data_dir=str(tmp_path)))


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("train-images-idx3-ubyte", b"\x12\x34\x08\x03" + bytes(12), "bad magic"),
        ("train-images-idx3-ubyte", b"\x00\x00\x0d\x03" + bytes(12), "dtype code 0x0d"),
        ("train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)), "4 labels but .* 5"),
        ("train-labels-idx1-ubyte", idx_bytes(np.full(5, 12, np.uint8)), "label 12"),
        ("t10k-images-idx3-ubyte", idx_bytes(np.zeros((3, 8, 8), np.uint8)), r"\(N, 28, 28\)"),
    ],
)
def test_corrupt_file_one_line_error(tmp_path, name, content, pattern):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / name).write_bytes(content)
    with pytest.raises(DataError, match=pattern) as err:
        load_dataset("mnist", LoadOptions(data_dir=str(tmp_path)))
    assert name in str(err.value) and "\n" not in str(err.value)


def test_search_order_data_dir_env_cwd_then_system(tmp_path, monkeypatch):
    """--data-dir, GENLAB_DATA, ./data, then the system folder; each found one is recorded."""
    roots = {k: tmp_path / k for k in ("flag", "env", "cwd/data", "system")}
    for seed, root in enumerate(roots.values()):
        write_mnist(root / "fashion-mnist", gz=True, seed=seed)
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("GENLAB_DATA", str(roots["env"]))
    monkeypatch.setenv("GENLAB_SYSTEM_DATA", str(roots["system"]))

    def found_in(opts: LoadOptions) -> Path:
        return Path(load_dataset("fashion-mnist", opts).root)

    assert found_in(LoadOptions(data_dir=str(roots["flag"]))) == roots["flag"].absolute()
    assert found_in(LoadOptions()) == roots["env"].absolute()
    monkeypatch.delenv("GENLAB_DATA")
    assert found_in(LoadOptions()) == roots["cwd/data"].absolute()
    for f in (roots["cwd/data"] / "fashion-mnist").iterdir():
        f.unlink()
    ds = load_dataset("fashion-mnist", LoadOptions())
    assert Path(ds.root) == roots["system"].absolute()
    expected = write_mnist(tmp_path / "again", seed=3)  # the system copy is seed 3's twin
    np.testing.assert_array_equal(ds.test.y.numpy(), expected["t10k-labels-idx1-ubyte"])


def test_one_missing_file_is_named_with_its_folder(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", gz=True)
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", LoadOptions(data_dir=str(tmp_path)))
    msg = str(err.value)
    assert f"incomplete in {(tmp_path / 'fashion-mnist').absolute()}" in msg
    assert "missing t10k-labels-idx1-ubyte (raw or .gz)" in msg and "3 of 4" in msg
    assert "train-images" not in msg and "genlab fetch fashion-mnist" in msg and "\n" not in msg
