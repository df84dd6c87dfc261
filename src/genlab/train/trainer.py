"""The one training loop, used by every family of genlab.

A model only has to provide ``loss(x, y, step=step) -> (loss, terms)`` (``Trainable``;
other abilities are read from ``genlab.protocols``, never probed); the trainer adds AdamW
with warm-up + cosine, gradient clipping, EMA, optional bf16 autocast and
torch.compile, DDP across torchrun ranks, a progress bar, JSONL logs, periodic
sample grids, validation with best-weight selection, atomic checkpoints, an exact
resume, and a safe stop on SIGINT / SIGTERM (a checkpoint at the step reached, see
:mod:`genlab.train.stopping`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from genlab.config import TrainConfig
from genlab.data.dataset import Dataset
from genlab.errors import ConfigError, TrainingDiverged, TrainingStopped
from genlab.protocols import GenerativeModel, Preparable, Trainable
from genlab.train.batching import EpochOrder
from genlab.train.distributed import DistInfo
from genlab.train.ema import EMA
from genlab.train.logging import RunLogger
from genlab.train.optim import lr_at, make_optimizer, set_lr
from genlab.train.run_folder import RunFolder
from genlab.train.seeding import seed_everything
from genlab.train.stopping import StopSignals
from genlab.train.trainer_checkpoints import Checkpoints
from genlab.train.validation import split_validation, validation_score
from genlab.viz import save_samples

__all__ = ["Callback", "TrainResult", "Trainer"]

Callback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    step: int
    best_step: int | None
    best_value: float | None
    last: dict[str, float]


class _LossModule(nn.Module):
    """Routes ``forward`` to ``model.loss`` so DDP and torch.compile see the loss."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        assert isinstance(model, Trainable), type(model).__name__
        self.model = model

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.loss(x, y, step=step)


class Trainer(Checkpoints):
    """Train ``model`` on ``dataset.train`` (minus a validation part) into ``run``.

    ``run`` is the run folder (rank 0 writes it; None writes nothing). With
    ``resume=True`` the loop restarts from the checkpoint in ``run`` (recovered first:
    see :mod:`genlab.train.run_folder`) and continues bit-for-bit as if it had never
    stopped (same device and thread settings).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        cfg: TrainConfig,
        run: RunFolder | None,
        *,
        device: torch.device,
        dist_info: DistInfo | None = None,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.cfg, self.device = cfg, device
        self.dist = dist_info or DistInfo()
        self.run = run if self.dist.is_main else None  # where this process writes
        self._run_dir = run  # where every process reads a checkpoint to resume
        self.meta = dataset.meta
        self.callbacks = list(callbacks)
        if cfg.batch_size % self.dist.world_size:
            raise ConfigError(
                f"train.batch_size={cfg.batch_size} must be divisible by the "
                f"{self.dist.world_size} DDP processes"
            )
        train, val = split_validation(dataset.train, cfg)
        self.train_split = train.to(device)
        self.val_split = None if val is None else val.to(device)
        self.order = EpochOrder(len(train), cfg.seed)

        self.model = model.to(device)
        self.ema = EMA(self.model, cfg.ema) if cfg.ema > 0 else None
        self.opt = make_optimizer(self.model, cfg)
        self.step = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.last_val: float | None = None
        self.train_seconds = self.val_seconds = 0.0  # this process's, since it started
        self._ckpt_step, self._ckpt_time = 0, time.monotonic()
        self._bar: tqdm | None = None
        self.last_train: dict[str, float] = {}  # the last logged training averages
        if resume:
            self._load_checkpoint()
        else:
            if isinstance(self.model, Preparable):
                self.model.prepare(self.train_split.x, self.train_split.y)
                if self.ema is not None:
                    self.ema.model.load_state_dict(self.model.state_dict())
            seed_everything(cfg.seed + self.dist.rank)
        self.logger = RunLogger(
            None if self.run is None else self.run.metrics_path,
            tensorboard=None if self.run is None else self.run.tensorboard_dir,
            resume_step=self.step if resume else None,
        )
        self.loss_fn = self._wrap()

    # ------------------------------------------------------------------ set-up

    def _wrap(self) -> Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        module: nn.Module = _LossModule(self.model)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(
                module, device_ids=ids, find_unused_parameters=self.cfg.find_unused_parameters
            )
        if self.cfg.compile:
            module = torch.compile(module)
        return module

    @property
    def eval_model(self) -> nn.Module:
        """The weights used for validation and samples: EMA when enabled."""
        return self.ema.model if self.ema is not None else self.model

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainResult:
        cfg = self.cfg
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=not (cfg.progress and self.dist.is_main),
            desc="train",
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 15.0,
        )
        self._bar = bar
        self.model.train()
        try:
            with StopSignals() as signals:
                self._loop(signals, bar)
            self._log_time_shares()
        finally:
            bar.close()
            self.logger.close()
        return TrainResult(self.step, self.best_step, self.best_value, self.last_train)

    def _loop(self, signals: StopSignals, bar: tqdm) -> None:
        """Steps until ``cfg.steps``; on a signal, a checkpoint at the step reached and
        :class:`~genlab.errors.TrainingStopped`."""
        cfg = self.cfg
        sums: dict[str, float] = {}
        count, tick = 0, time.perf_counter()
        while self.step < cfg.steps:
            started = time.perf_counter()
            terms = self._train_step()
            self.step += 1
            self.train_seconds += time.perf_counter() - started
            bar.update(1)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                elapsed = time.perf_counter() - tick
                last = {k: v / count for k, v in sums.items()}
                last["lr"] = lr_at(self.step - 1, cfg)
                last["images_per_s"] = count * cfg.batch_size / max(elapsed, 1e-9)
                self.logger.log(self.step, "train", last)
                bar.set_postfix(self._shown(last), refresh=False)
                self.last_train = last
                sums, count, tick = {}, 0, time.perf_counter()
            self._periodic()
            for cb in self.callbacks:
                cb(self.step, terms)
            signum = self._stop_agreed(signals)
            if signum and self.step < cfg.steps:
                self._checkpoint_now()
                raise TrainingStopped(self.step, cfg.steps, signum)

    def _stop_agreed(self, signals: StopSignals) -> int:
        """The signal that stops the run after this step (0: none); under DDP every rank
        stops at the same step (the largest signal number any rank received)."""
        signum = signals.signum
        if self.dist.enabled:
            flag = torch.tensor(float(signum), device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            signum = int(flag.item())
        return signum

    def _shown(self, last: dict[str, float]) -> dict[str, str]:
        """The bar's numbers: bits/dim when the loss has a bits/dim term (generative
        families), else the loss; the last validation score; images/s."""
        bpd = next((k for k in last if k == "bpd" or k.endswith("_bpd")), None)
        shown = {"bpd": f"{last[bpd]:.4f}"} if bpd else {"loss": f"{last['loss']:.4g}"}
        if self.last_val is not None:
            shown["val"] = f"{self.last_val:.4f}"
        shown["img/s"] = f"{last['images_per_s']:.0f}"
        return shown

    def _log_time_shares(self) -> None:
        """Seconds spent in training steps and in validation (logged once, at the end)."""
        total = self.train_seconds + self.val_seconds
        shares = {
            "train_seconds": self.train_seconds,
            "val_seconds": self.val_seconds,
            "val_share": self.val_seconds / total if total > 0 else 0.0,
        }
        self.logger.log(self.step, "time", shares)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.order.batch(self.step, self.cfg.batch_size, self.dist.rank, self.dist.world_size)
        batch = self.train_split.take(idx.to(self.device))
        return batch.x, batch.y

    def _train_step(self) -> dict[str, float]:
        cfg = self.cfg
        x, y = self._batch()
        set_lr(self.opt, lr_at(self.step, cfg))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, terms = self.loss_fn(x, y, self.step)
        self._check_finite("loss", loss, terms)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        limit = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), limit)
        self._check_finite("gradient norm", grad_norm, {})
        self.opt.step()
        if self.ema is not None:
            self.ema.update(self.model, self.step)
        names = ["loss", "grad_norm", *terms]
        values = torch.stack([loss.detach(), grad_norm, *terms.values()]).float()
        return dict(zip(names, values.tolist(), strict=True))  # one device sync, not one per term

    def _check_finite(self, what: str, value: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        bad = (~torch.isfinite(value.detach().float())).float()
        if self.dist.enabled:  # every rank must stop together, or the others hang
            dist.all_reduce(bad)
        if bad.item() == 0:
            return
        parts = [f"{k}={float(v):.4g}" for k, v in terms.items() if not math.isfinite(float(v))]
        which = f" (non-finite terms: {', '.join(parts)})" if parts else ""
        where = f"; last checkpoint: step {self._last_ckpt_step()}" if self.run else ""
        shown = float(value.detach())
        raise TrainingDiverged(
            f"training diverged at step {self.step + 1}: {what} = {shown:.4g}{which}; "
            f"lower train.lr (now {self.cfg.lr:g}) or set train.grad_clip{where}"
        )

    def _periodic(self) -> None:
        cfg, step, final = self.cfg, self.step, self.step == self.cfg.steps
        checkpoint_now = self._checkpoint_due()
        rng = self._gather_rng() if checkpoint_now else None  # a collective: every rank joins
        if checkpoint_now:
            self._ckpt_step, self._ckpt_time = step, time.monotonic()
        if not self.dist.is_main:
            return
        if self.val_split is not None and (step % cfg.eval_every == 0 or final):
            self._validate()
        if (
            self.run is not None
            and cfg.sample_every > 0
            and (step % cfg.sample_every == 0 or final)
        ):
            self._sample_grid()
        if self.run is not None and rng is not None:
            self._save_checkpoint(rng)

    # ------------------------------------------------------------------ evaluation

    def _validate(self) -> None:
        """Validation score (bits/dim of a generative model, else the mean loss); keeps
        the best weights when ``train.select=best``."""
        assert self.val_split is not None
        model, started = self.eval_model, time.perf_counter()
        name, value = validation_score(
            model,
            self.val_split,
            self.meta,
            step=self.step,
            seed=self.cfg.seed,
            rng_devices=self._rng_devices(),
            progress=self._bar is not None and not self._bar.disable,
        )
        self.val_seconds += time.perf_counter() - started
        self.last_val = value
        improved = self.best_value is None or value < self.best_value
        if improved and self.cfg.select == "best":
            self.best_value, self.best_step = value, self.step
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.logger.log(
            self.step,
            "val",
            {name: value, "best": value if self.best_value is None else self.best_value},
        )

    def _rng_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def _sample_grid(self) -> None:
        model = self.eval_model
        if not isinstance(model, GenerativeModel) or self.run is None:
            return
        with torch.random.fork_rng(devices=self._rng_devices()):
            g = torch.Generator(self.device).manual_seed(self.cfg.seed)
            was_training = model.training
            model.eval()
            x = model.sample(self.cfg.grid_size, generator=g)
            model.train(was_training)
        save_samples(x, self.meta, self.run.sample_path(self.step))
