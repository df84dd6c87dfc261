"""Shared test options: ``pytest --device auto|cpu|cuda`` picks where models run.

Tests run torch on one CPU thread, and so do the processes they start (OMP_NUM_THREADS):
their models are tiny, and two threads on a 2-core machine that is doing anything else
made some tests ten times slower (thread oversubscription), never faster.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="device for tests that train or run models (auto: cuda when available)",
    )


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    choice = request.config.getoption("--device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda asked but CUDA is not available")
    return torch.device(choice)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep caches (feature-net weights) inside one per-session folder, never $HOME."""
    cache = tmp_path_factory.getbasetemp() / "genlab-cache"
    monkeypatch.setenv("GENLAB_CACHE", str(cache))
    # the system data folder (/usr/share/datasets) is searched last; tests see only the
    # data they write, so a machine with Debian's dataset packages behaves as one without
    monkeypatch.setenv("GENLAB_SYSTEM_DATA", str(tmp_path_factory.getbasetemp() / "no-system"))
    monkeypatch.delenv("GENLAB_DATA", raising=False)
    yield


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> str:
    """The real Fashion-MNIST folder root, or skip (``apt-get install dataset-fashion-mnist``)."""
    from genlab.data.dataset import SYSTEM_DATA

    root = os.environ.get("GENLAB_SYSTEM_DATA_REAL", SYSTEM_DATA)
    if not os.path.isfile(os.path.join(root, "fashion-mnist", "train-images-idx3-ubyte.gz")):
        pytest.skip(
            f"Fashion-MNIST not installed in {root} (apt-get install dataset-fashion-mnist)"
        )
    return root


TINY_FASHION = {"train": 30, "t10k": 8}  # images per class in each split, 10 classes


def _idx(arr) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    dims = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return bytes([0, 0, 0x08, arr.ndim]) + dims + arr.tobytes()


@pytest.fixture(scope="session")
def tiny_fashion_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A data folder holding a tiny Fashion-MNIST in its official format (the four IDX
    files, raw): 1x28x28 uint8, 10 classes, 300 train and 80 test images, each class a
    noisy copy of its own random pattern (so a class can be told from the pixels)."""
    import numpy as np

    root = tmp_path_factory.mktemp("tiny-fashion")
    folder = root / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 256, (10, 28, 28))
    for split, per_class in TINY_FASHION.items():
        labels = np.repeat(np.arange(10), per_class)
        rng.shuffle(labels)
        noise = rng.integers(-60, 61, (len(labels), 28, 28))
        images = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(_idx(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(_idx(labels.astype(np.uint8)))
    return str(root)


@pytest.fixture
def tiny_fashion(tiny_fashion_root: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """GENLAB_DATA pointed at :func:`tiny_fashion_root` for one test; returns the root."""
    monkeypatch.setenv("GENLAB_DATA", tiny_fashion_root)
    return tiny_fashion_root
