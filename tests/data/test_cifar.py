"""CIFAR-10 binary and python batches written in the real formats, and the safe unpickler."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import LoadOptions, dataset_available, load_dataset
from genlab.data.cifar import BIN_FILES, PY_FILES
from genlab.errors import DataError

SIZES = [2, 3, 2, 1, 2, 3]  # records per batch: five train batches, then the test batch


def make_batches(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
        for n in SIZES
    ]


def write_bin(folder: Path, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    batches = make_batches(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in zip(BIN_FILES, batches, strict=True):
        (folder / name).write_bytes(np.concatenate([labels[:, None], data], 1).tobytes())
    return batches


def write_py(folder: Path, seed: int = 0, str_keys: bool = False, protocol: int = 2):
    batches = make_batches(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in zip(PY_FILES, batches, strict=True):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in labels],
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(data))],
        }
        if str_keys:
            batch = {k.decode(): v for k, v in batch.items()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    return batches


def check_round_trip(ds, batches) -> None:
    assert ds.name == "cifar10" and ds.shape == (3, 32, 32)
    assert ds.levels == 256 and ds.num_classes == 10
    assert ds.train.x.dtype == torch.uint8 and ds.train.y.dtype == torch.int64
    assert ds.train.x.shape == (sum(SIZES[:5]), 3, 32, 32) and ds.test.x.shape == (3, 3, 32, 32)
    train = np.concatenate([d for d, _ in batches[:5]])
    np.testing.assert_array_equal(ds.train.x.reshape(-1, 3072).numpy(), train)
    np.testing.assert_array_equal(ds.train.y.numpy(), np.concatenate([y for _, y in batches[:5]]))
    np.testing.assert_array_equal(ds.test.y.numpy(), batches[5][1])
    # layout: 1024 red, then green, then blue bytes, each 32x32 row-major
    data = batches[5][0]
    assert int(ds.test.x[1, 2, 5, 7]) == data[1, 2 * 1024 + 5 * 32 + 7]
    assert int(ds.test.x[0, 0, 31, 0]) == data[0, 31 * 32]


def load(root: Path):
    return load_dataset("cifar10", LoadOptions(data_dir=str(root)))


@pytest.mark.parametrize("sub", ["cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"])
def test_binary_batches(tmp_path, sub):
    batches = write_bin(tmp_path / sub)
    check_round_trip(load(tmp_path), batches)


@pytest.mark.parametrize(("str_keys", "protocol"), [(False, 2), (True, 2), (False, 5)])
def test_python_batches(tmp_path, str_keys, protocol):
    batches = write_py(tmp_path / "cifar10" / "cifar-10-batches-py", 0, str_keys, protocol)
    check_round_trip(load(tmp_path), batches)


def test_binary_preferred_over_python(tmp_path):
    binary = write_bin(tmp_path / "cifar-10-batches-bin", seed=1)
    write_py(tmp_path / "cifar-10-batches-py", seed=2)
    check_round_trip(load(tmp_path), binary)


def test_missing_names_both_layouts(tmp_path):
    assert not dataset_available("cifar10", LoadOptions(data_dir=str(tmp_path)))[0]
    with pytest.raises(DataError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert "cifar-10-batches-bin" in msg and "cifar-10-batches-py" in msg
    assert "data_batch_5.bin" in msg and "test_batch" in msg
    assert "--data-dir" in msg and "GENLAB_DATA" in msg and "\n" not in msg
    write_bin(tmp_path / "cifar-10-batches-bin")
    folder = str((tmp_path / "cifar-10-batches-bin").absolute())
    assert dataset_available("cifar10", LoadOptions(data_dir=str(tmp_path))) == (True, folder)


class Payload:
    """Creates ``marker`` when unpickled, as a hostile batch would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class ShellPayload(Payload):
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Custom:
    pass


def write_hostile(tmp_path: Path, obj: object) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    write_py(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return folder / "data_batch_3"


def test_payload_would_run_under_plain_pickle(tmp_path):
    marker = tmp_path / "pwned"
    path = write_hostile(tmp_path, {b"data": Payload(marker)})
    pickle.loads(path.read_bytes(), encoding="bytes")  # control: an unrestricted load runs it
    assert marker.exists()


@pytest.mark.parametrize("kind", ["open", "shell"])
def test_hostile_payload_refused_and_not_run(tmp_path, kind):
    marker = tmp_path / "pwned"
    payload = Payload(marker) if kind == "open" else ShellPayload(marker)
    path = write_hostile(tmp_path, {b"data": np.zeros((1, 3072), np.uint8), b"x": payload})
    with pytest.raises(DataError, match="contains a non-array object .*refusing to unpickle it"):
        load(tmp_path)
    assert not marker.exists()
    with pytest.raises(DataError, match=str(path)):
        load(tmp_path)


@pytest.mark.parametrize(
    ("obj", "global_name"),
    [
        (collections.OrderedDict(a=1), "collections.OrderedDict"),
        ({b"data": Custom()}, "Custom"),
        ({b"data": np.zeros(2, np.uint8), b"n": np.int64(3)}, "numpy"),
    ],
)
def test_other_objects_refused(tmp_path, obj, global_name):
    write_hostile(tmp_path, obj)
    with pytest.raises(DataError, match=f"non-array object \\(.*{global_name}"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)[:-30], "corrupt"),
        (b"not a pickle at all", "corrupt"),
        (pickle.dumps([1, 2, 3], protocol=2), "not a CIFAR-10 batch"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "not a CIFAR"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "1 labels"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}), "outside"),
    ],
)
def test_corrupt_python_batch(tmp_path, content, pattern):
    write_py(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(DataError, match=pattern) as err:
        load(tmp_path)
    assert "test_batch" in str(err.value) and "\n" not in str(err.value)


def test_truncated_binary_batch(tmp_path):
    write_bin(tmp_path / "cifar-10-batches-bin")
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="data_batch_2.bin is truncated or corrupt: 5000 bytes"):
        load(tmp_path)
