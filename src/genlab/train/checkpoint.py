"""Run-folder checkpoints, written atomically as one unit.

A checkpoint is several files (``model.safetensors``, ``ema.safetensors``,
``best.safetensors``, ``trainer_state.pt``) that must agree on the step. They are
first written in full to ``RUN/.checkpoint-tmp/``, then a ``COMPLETE`` marker is
written, then each file is moved over its old copy with ``os.replace``. A process
killed at any moment leaves either the old checkpoint (no marker: the stage is
discarded) or a complete new one whose moves :func:`recover` finishes. Weights are
safetensors; the trainer state is loaded with ``weights_only=True``: nothing in a
run folder can execute code.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.errors import CheckpointError

__all__ = [
    "fit_problem",
    "load_state",
    "load_weights",
    "recover",
    "save_weights",
    "write_checkpoint",
]

STAGE = ".checkpoint-tmp"
MARKER = "COMPLETE"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(run: Path, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Write each ``name -> writer(path)`` into ``run`` as one atomic unit."""
    stage = run / STAGE
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    for name, write in writers.items():
        write(stage / name)
        _fsync(stage / name)
    (stage / MARKER).write_text(json.dumps(list(writers)))
    _fsync(stage / MARKER)
    _fsync(stage)
    _commit(run)


def _commit(run: Path) -> None:
    stage = run / STAGE
    for name in json.loads((stage / MARKER).read_text()):
        if (stage / name).exists():  # absent when an earlier commit moved it already
            os.replace(stage / name, run / name)
    _fsync(run)
    shutil.rmtree(stage)


def recover(run: Path) -> None:
    """Finish an interrupted checkpoint commit, or discard an incomplete one."""
    stage = run / STAGE
    if not stage.exists():
        return
    if (stage / MARKER).exists():
        _commit(run)
    else:
        shutil.rmtree(stage)


def save_weights(state: Mapping[str, torch.Tensor], path: Path, step: int) -> None:
    """A state dict as safetensors (tensors copied to CPU, contiguous, unshared)."""
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"step": str(step), "format": "genlab"})


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """``(state dict, step)`` from a safetensors file; CheckpointError if unreadable."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the run has no saved weights")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), int(meta.get("step", -1))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{path} is corrupt ({_first_line(err)}); restore it or retrain the run"
        ) from None


def load_state(path: Path) -> dict[str, Any]:
    """The trainer state (optimizer, step, RNG), loaded without executing code."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the run cannot be resumed")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means a corrupt or foreign file
        raise CheckpointError(
            f"{path} is corrupt or not a genlab trainer state ({type(err).__name__}); "
            "restart the run with --force"
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path} is not a genlab trainer state; restart the run with --force")
    return state


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else type(err).__name__


def fit_problem(err: RuntimeError) -> str:
    """The informative line of ``load_state_dict``'s multi-line error."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
    return detail.rstrip(".")[:200]
