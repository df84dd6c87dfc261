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
