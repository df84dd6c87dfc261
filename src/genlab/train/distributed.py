"""torch.distributed set-up for runs launched by ``torchrun`` (DDP).

``torchrun --nproc_per_node G -m genlab train ...`` sets RANK, LOCAL_RANK and
WORLD_SIZE; we join the process group (NCCL on GPUs, gloo on CPU), pin each rank to
its GPU, and let rank 0 alone write the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from genlab.errors import ConfigError

__all__ = ["DistInfo", "close_distributed", "init_distributed", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` -> this rank's GPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available (use cpu)")
        return torch.device(choice if ":" in choice else f"cuda:{local_rank}")
    if choice != "cpu":
        raise ConfigError(f"unknown device {choice!r}; use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def close_distributed(info: DistInfo, *, ok: bool) -> None:
    """Leave the process group joined by :func:`init_distributed`: after a finished run,
    wait at a barrier (no rank exits while rank 0 still writes), then destroy the group,
    which joins gloo's threads; left to interpreter exit, a rank could abort with
    "terminate called without an active exception"."""
    if not info.enabled or not dist.is_initialized():
        return
    if ok:
        dist.barrier()
    dist.destroy_process_group()
