"""MNIST and Fashion-MNIST from their standard IDX files (raw or gzipped).

IDX layout (LeCun et al.): two zero bytes, a dtype code (0x08 = uint8), the
number of dimensions, then each dimension as a big-endian uint32, then the data
in C order. Gzip is detected by its magic bytes, not by the file extension.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from genlab.data.dataset import (
    DataMeta,
    Dataset,
    LoadOptions,
    Located,
    Split,
    find_files,
    read_bytes,
)
from genlab.errors import DataError

__all__ = [
    "IDX_FILES",
    "load_fashion_mnist",
    "load_mnist",
    "probe_fashion_mnist",
    "probe_mnist",
    "read_idx",
]

IDX_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
_UINT8 = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read one uint8 IDX file (raw or gzipped) into an array of its stored shape.

    Raises one DataError line naming the file when it is truncated or corrupt.
    """
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number); re-download it")
    if data[2] != _UINT8:
        raise DataError(
            f"{path} has IDX dtype code 0x{data[2]:02x}, expected 0x08 (uint8); re-download it"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; re-download it")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise DataError(
            f"{path} is {what}: expected {expected} bytes, got {len(data)}; re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_images(path: Path) -> torch.Tensor:
    """Images file -> uint8 (N, 1, 28, 28)."""
    arr = read_idx(path)
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise DataError(f"{path} holds an array of shape {arr.shape}, expected (N, 28, 28)")
    return torch.from_numpy(arr.copy()).unsqueeze(1)


def _read_labels(path: Path, n_images: int) -> torch.Tensor:
    """Labels file -> int64 (N,), checked against the image count and 0..9."""
    arr = read_idx(path)
    if arr.ndim != 1:
        raise DataError(f"{path} holds an array of shape {arr.shape}, expected (N,) labels")
    if len(arr) != n_images:
        raise DataError(
            f"{path} has {len(arr)} labels but its images file has {n_images}; re-download both"
        )
    if len(arr) and int(arr.max()) > 9:
        raise DataError(f"{path} has label {int(arr.max())}, expected 0..9; re-download it")
    return torch.from_numpy(arr.astype(np.int64))


def _split(files: dict[str, Path], prefix: str) -> Split:
    x = _read_images(files[f"{prefix}-images-idx3-ubyte"])
    return Split(x, _read_labels(files[f"{prefix}-labels-idx1-ubyte"], len(x)))


_MNIST_FOLDERS = ["mnist", "MNIST/raw", ""]
_FASHION_FOLDERS = ["fashion-mnist", "FashionMNIST/raw", "fashion_mnist"]
_MNIST_HINT = "put the four MNIST IDX files (from yann.lecun.com/exdb/mnist) there"
_FASHION_HINT = (
    "put the four Fashion-MNIST IDX files there (Debian: apt-get install dataset-fashion-mnist)"
)


def _locate(name: str, opts: LoadOptions) -> Located:
    if name == "mnist":
        return find_files(name, opts, _MNIST_FOLDERS, IDX_FILES, _MNIST_HINT)
    return find_files(name, opts, _FASHION_FOLDERS, IDX_FILES, _FASHION_HINT)


def _load(name: str, opts: LoadOptions) -> Dataset:
    where = _locate(name, opts)
    meta = DataMeta(name=name, shape=(1, 28, 28), levels=256, num_classes=10)
    train, test = _split(where.files, "train"), _split(where.files, "t10k")
    return Dataset(meta, train, test, root=str(where.root))


def load_mnist(arg: str | None, opts: LoadOptions) -> Dataset:
    """MNIST: uint8 (N, 1, 28, 28) in 0..255, int64 labels, official 60000/10000 split."""
    return _load("mnist", opts)


def load_fashion_mnist(arg: str | None, opts: LoadOptions) -> Dataset:
    """Fashion-MNIST: uint8 (N, 1, 28, 28), int64 labels, official 60000/10000 split."""
    return _load("fashion-mnist", opts)


def probe_mnist(opts: LoadOptions) -> Path:
    """The folder holding the four MNIST files; DataError naming what is missing."""
    return _locate("mnist", opts).folder


def probe_fashion_mnist(opts: LoadOptions) -> Path:
    """The folder holding the four Fashion-MNIST files; DataError naming what is missing."""
    return _locate("fashion-mnist", opts).folder
