"""Helpers of the CLI tests: the result of one command, run-folder snapshots, IDX files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def error_line(self, *fragments: str) -> str:
        """The one error line on stderr; checks the exit code and that it holds ``fragments``."""
        lines = self.err.splitlines()
        assert self.code != 0, f"expected a failure, got exit 0; stderr: {self.err!r}"
        assert "Traceback" not in self.err, self.err
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.err}"
        line = lines[0]
        assert line.startswith("genlab"), line
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        return line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove nothing changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def train_args(out: Path, device: str, *extra: object, steps: int = 30) -> list[object]:
    """``genlab train pixelwise`` on digits: few steps, no sample grids, no progress bar."""
    return [
        "train",
        "pixelwise",
        "--data",
        "digits",
        "--out",
        out,
        "--steps",
        steps,
        "--device",
        device,
        "--quiet",
        "train.sample_every=0",
        *extra,
    ]


IDX_NAMES = {
    "train-images-idx3-ubyte": (12, 28, 28),
    "train-labels-idx1-ubyte": (12,),
    "t10k-images-idx3-ubyte": (6, 28, 28),
    "t10k-labels-idx1-ubyte": (6,),
}


def write_idx(path: Path, arr: np.ndarray) -> None:
    """One uint8 IDX file: 0, 0, dtype 0x08, ndim, big-endian dims, then the data."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def write_mnist(root: Path) -> Path:
    """A small but well-formed MNIST in ``root/mnist``; returns that folder."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, shape in IDX_NAMES.items():
        high = 10 if "labels" in name else 256
        write_idx(folder / name, rng.integers(0, high, size=shape))
    return folder
