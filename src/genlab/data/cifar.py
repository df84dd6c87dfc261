"""CIFAR-10 from the standard binary batches, or the python batches read safely.

Binary batches (``cifar-10-batches-bin``): records of 1 label byte + 3072 pixel
bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major). Python batches
(``cifar-10-batches-py``): pickled dicts with ``b'data'`` (N, 3072) uint8 and
``b'labels'``. Those are read by an unpickler that admits only what numpy arrays
need, so a tampered file cannot run code. Binary batches win when both exist.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.dataset import (
    DataMeta,
    Dataset,
    LoadOptions,
    Located,
    Split,
    data_roots,
    find_files,
    read_bytes,
)
from genlab.errors import DataError

__all__ = ["BIN_FILES", "PY_FILES", "load_cifar10", "probe", "read_bin_batch", "read_py_batch"]

BIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
PY_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
_PIXELS = 3 * 32 * 32
_RECORD = 1 + _PIXELS


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of bytes use it, and only that way."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r})")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: object) -> bytes:
    """``bytes()`` as protocol-2 pickles of ``b''`` use it, with no arguments."""
    if args:
        raise pickle.UnpicklingError("bytes() called with arguments")
    return b""


_RECONSTRUCT = np.zeros(1, np.uint8).__reduce_ex__(2)[0]  # numpy(._)core.multiarray._reconstruct
_FROMBUFFER = np.zeros(1, np.uint8).__reduce_ex__(5)[0]  # numpy(._)core.numeric._frombuffer
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,  # arrays pickled with protocol 5
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 writes bytes under protocol 2 as these two calls; both are pure.
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are numpy's array reconstruction helpers."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DataError(
                f"{self.path} contains a non-array object ({module}.{name}); "
                "refusing to unpickle it"
            )
        return _ALLOWED[(module, name)]


def _labels(path: Path, raw: np.ndarray) -> torch.Tensor:
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) > 9):
        raise DataError(f"{path} has labels outside 0..9; re-download it")
    return torch.from_numpy(raw.astype(np.int64))


def read_bin_batch(path: Path) -> Split:
    """One binary batch -> uint8 (N, 3, 32, 32) images and int64 (N,) labels."""
    data = read_bytes(path)
    if not data or len(data) % _RECORD:
        raise DataError(
            f"{path} is truncated or corrupt: {len(data)} bytes is not a whole number of "
            f"{_RECORD}-byte records; re-download it"
        )
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    x = torch.from_numpy(rec[:, 1:].reshape(-1, 3, 32, 32).copy())
    return Split(x, _labels(path, rec[:, 0]))


def _field(batch: dict, key: str) -> Any:
    return batch[key.encode()] if key.encode() in batch else batch.get(key)


def _unpickle(path: Path) -> object:
    try:
        return _ArrayUnpickler(read_bytes(path), path).load()
    except DataError:
        raise
    except Exception as err:  # any failure of a corrupt pickle, reported as one line
        raise DataError(f"{path} is corrupt ({type(err).__name__}: {err}); re-download it") from err


def read_py_batch(path: Path) -> Split:
    """One python batch -> uint8 (N, 3, 32, 32) images and int64 (N,) labels."""
    batch = _unpickle(path)
    data = _field(batch, "data") if isinstance(batch, dict) else None
    labels = _field(batch, "labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path} is not a CIFAR-10 batch: no uint8 (N, 3072) 'data' array")
    if data.shape[1] != _PIXELS or labels is None:
        raise DataError(f"{path} is not a CIFAR-10 batch: data {data.shape}, labels {labels!r:.40}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise DataError(f"{path} has non-integer labels ({err}); re-download it") from err
    if y.shape != (len(data),):
        raise DataError(f"{path} has {y.size} labels for {len(data)} images; re-download it")
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return Split(x, _labels(path, y))


def _locate(opts: LoadOptions) -> tuple[Located, bool]:
    """Where the six batches (five train, then test) are, and whether they are binary."""
    errors = []
    for sub, names, binary in (
        ("cifar-10-batches-bin", BIN_FILES, True),
        ("cifar-10-batches-py", PY_FILES, False),
    ):
        try:
            return find_files("cifar10", opts, [sub, f"cifar10/{sub}"], names, ""), binary
        except DataError as err:
            errors.append(str(err))
    partial = [e for e in errors if "incomplete" in e]
    if partial:
        raise DataError(partial[0])
    roots = ", ".join(str(r) for r in data_roots(opts))
    raise DataError(
        f"cifar10 not found: expected cifar-10-batches-bin/ ({', '.join(BIN_FILES)}) or "
        f"cifar-10-batches-py/ ({', '.join(PY_FILES)}) in one of {roots} (or their cifar10/); "
        "run `genlab fetch cifar10` or unpack cifar-10-binary.tar.gz there "
        "(or set --data-dir or GENLAB_DATA to the folder that holds it)"
    )


def probe(opts: LoadOptions) -> Path:
    """The folder holding a complete set of CIFAR-10 batches; DataError otherwise."""
    return _locate(opts)[0].folder


def load_cifar10(arg: str | None, opts: LoadOptions) -> Dataset:
    """CIFAR-10: uint8 (N, 3, 32, 32) in 0..255, int64 labels, official 50000/10000 split."""
    where, binary = _locate(opts)
    paths = [where.files[n] for n in (BIN_FILES if binary else PY_FILES)]
    read = read_bin_batch if binary else read_py_batch
    batches = [read(p) for p in paths]
    train = batches[:5]
    x = torch.cat([b.x for b in train])
    y = torch.cat([b.y for b in train if b.y is not None])
    meta = DataMeta(name="cifar10", shape=(3, 32, 32), levels=256, num_classes=10)
    return Dataset(meta, Split(x, y), batches[5], root=str(where.root))
