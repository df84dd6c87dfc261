"""Checkpoint file formats: weights as safetensors, the trainer state as a torch file.

Weights are safetensors (their step in the metadata); the trainer state is loaded with
``weights_only=True``: nothing in a run folder can execute code. Which files a run holds
and how a checkpoint is committed atomically is the run folder's business
(:mod:`genlab.train.run_folder`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from genlab.errors import CheckpointError

__all__ = ["fit_problem", "load_state", "load_weights", "save_weights"]


def save_weights(state: Mapping[str, torch.Tensor], path: Path, step: int) -> None:
    """A state dict as safetensors (tensors copied to CPU, contiguous, unshared)."""
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"step": str(step), "format": "genlab"})


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """``(state dict, step)`` from a safetensors file; CheckpointError if unreadable."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the run has no saved weights")
    try:
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
