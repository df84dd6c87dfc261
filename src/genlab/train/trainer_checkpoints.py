"""The trainer's checkpoints: when one is due, writing one (atomically, rank 0) and
reading one back to resume exactly; a mixin of :class:`~genlab.train.trainer.Trainer`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from genlab.errors import CheckpointError
from genlab.train import checkpoint as ckpt
from genlab.train.run_folder import Checkpoint, RunFolder, TrainerState
from genlab.train.seeding import get_rng_state, seed_everything, set_rng_state

if TYPE_CHECKING:
    from genlab.config import TrainConfig
    from genlab.train.distributed import DistInfo
    from genlab.train.ema import EMA

__all__ = ["Checkpoints"]


class Checkpoints:
    """Checkpoint methods of the trainer (its attributes are declared here for them)."""

    cfg: TrainConfig
    dist: DistInfo
    device: torch.device
    run: RunFolder | None
    _run_dir: RunFolder | None
    model: nn.Module
    ema: EMA | None
    opt: Any
    step: int
    best_value: float | None
    best_step: int | None
    best_state: dict[str, torch.Tensor] | None
    train_seconds: float
    val_seconds: float
    _ckpt_step: int
    _ckpt_time: float

    def _last_ckpt_step(self) -> int:
        return self._ckpt_step

    def _checkpoint_due(self) -> bool:
        """Every ``ckpt_every`` steps, at the end, and when ``ckpt_minutes`` of wall time
        have passed since the last one (looked at every ``log_every`` steps; rank 0's
        clock decides for every rank)."""
        cfg, step = self.cfg, self.step
        if self._run_dir is None:
            return False
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            return True
        if cfg.ckpt_minutes <= 0 or step % cfg.log_every:
            return False
        late = torch.tensor(float(time.monotonic() - self._ckpt_time > 60.0 * cfg.ckpt_minutes))
        if self.dist.enabled:
            late = late.to(self.device)
            dist.broadcast(late, src=0)
        return bool(late.item())

    def _checkpoint_now(self) -> None:
        """A checkpoint at this step unless one was just written (rank 0 writes)."""
        if self._run_dir is None or self._ckpt_step == self.step:
            return
        rng = self._gather_rng()  # a collective: every rank joins
        self._ckpt_step, self._ckpt_time = self.step, time.monotonic()
        if self.run is not None:
            self._save_checkpoint(rng)

    def _save_checkpoint(self, rng: list[dict[str, torch.Tensor]]) -> None:
        assert self.run is not None
        state = TrainerState(
            step=self.step,
            optimizer=self.opt.state_dict(),
            rng=rng,
            best_value=self.best_value,
            best_step=self.best_step,
            world_size=self.dist.world_size,
            seconds=(self.train_seconds, self.val_seconds),
        )
        ema = None if self.ema is None else self.ema.model.state_dict()
        self.run.write_checkpoint(Checkpoint(state, self.model.state_dict(), ema, self.best_state))

    def _gather_rng(self) -> list[dict[str, torch.Tensor]]:
        mine = get_rng_state()
        if not self.dist.enabled:
            return [mine]
        everyone: list[dict[str, torch.Tensor] | None] = [None] * self.dist.world_size
        dist.all_gather_object(everyone, mine)
        return [s for s in everyone if s is not None]

    def _load_checkpoint(self) -> None:
        run = self._run_dir
        if run is None:
            raise CheckpointError("resume needs the run folder")
        if self.dist.is_main:
            run.recover()
        if self.dist.enabled:
            dist.barrier()
        saved = run.read_checkpoint(ema=self.ema is not None)
        self._load_into(self.model, saved.model, run.weights_path("model"))
        if self.ema is not None and saved.ema is not None:
            self._load_into(self.ema.model, saved.ema, run.path)
        state = saved.state
        self.best_state = saved.best
        self.best_value, self.best_step = state.best_value, state.best_step
        try:
            self.opt.load_state_dict(state.optimizer)
        except (ValueError, KeyError) as err:
            raise CheckpointError(
                f"{run.path}: optimizer state does not fit the model ({err})"
            ) from None
        self.step = state.step
        self.train_seconds, self.val_seconds = state.seconds
        if len(state.rng) == self.dist.world_size:
            set_rng_state(state.rng[self.dist.rank])
        else:  # resumed with another number of processes: fresh but reproducible streams
            seed_everything(self.cfg.seed + self.dist.rank + 7919 * self.step)

    @staticmethod
    def _load_into(model: nn.Module, weights: dict[str, torch.Tensor], where: object) -> None:
        try:
            model.load_state_dict(weights)
        except RuntimeError as err:
            raise CheckpointError(
                f"{where}: weights do not fit the model ({ckpt.fit_problem(err)})"
            ) from None
