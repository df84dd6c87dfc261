"""The one trainer of genlab and its parts (optimizer, EMA, checkpoints, logs, DDP)."""

from __future__ import annotations

from genlab.train.distributed import DistInfo, close_distributed, init_distributed, resolve_device
from genlab.train.run_folder import RunFolder
from genlab.train.trainer import Callback, Trainer, TrainResult
from genlab.train.validation import split_validation

__all__ = [
    "Callback",
    "DistInfo",
    "RunFolder",
    "TrainResult",
    "Trainer",
    "close_distributed",
    "init_distributed",
    "resolve_device",
    "split_validation",
]
