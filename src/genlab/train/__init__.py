"""The one trainer of genlab and its parts (optimizer, EMA, checkpoints, logs, DDP)."""

from __future__ import annotations

from genlab.train.distributed import DistInfo, init_distributed, resolve_device
from genlab.train.trainer import Callback, Trainer, TrainResult, split_validation

__all__ = [
    "Callback",
    "DistInfo",
    "TrainResult",
    "Trainer",
    "init_distributed",
    "resolve_device",
    "split_validation",
]
