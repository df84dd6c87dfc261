"""A time budget: ``train.minutes`` (``genlab train --minutes M``) becomes ``train.steps``.

A short probe on a throwaway copy of the model times what a run spends its minutes on:
training steps (a few warm-up steps, then :data:`PROBE_STEPS` timed), one validation pass
and one sample grid (when the run has them) and one checkpoint (into a temporary
folder). The steps are then the most that fit in the minutes left after the probe, with
a validation every ``eval_every`` steps, a grid every ``sample_every`` and a checkpoint
every ``ckpt_every`` (each also at the end), counted exactly (:class:`Costs`):

    S step_s + ceil(S / eval_every) val_s + ceil(S / sample_every) sample_s
        + ceil(S / ckpt_every) ckpt_s <= 60 minutes - probe_s

The steps are written into the run's config.yaml, so the learning-rate schedule, the
warm-up and ``--resume`` mean exactly what they mean with ``--steps``: a run planned for
S steps is the run ``--steps S`` trains, bit for bit (the probe leaves every random stream
as it found it). Under DDP every rank probes the same steps and the slowest rank's times
decide, so all plan the same S.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
from torch import nn

from genlab.protocols import GenerativeModel
from genlab.train.run_folder import RunFolder
from genlab.train.seeding import get_rng_state, set_rng_state
from genlab.train.trainer import Trainer

__all__ = ["PROBE_STEPS", "Costs", "Plan", "plan_steps"]

WARMUP_STEPS = 3  # untimed: first-call allocations and caches
PROBE_STEPS = 12  # timed


@dataclass(frozen=True)
class Plan:
    """The steps planned for ``minutes`` and the probe's measurements (seconds)."""

    minutes: float
    steps: int
    step_s: float
    val_s: float
    sample_s: float
    ckpt_s: float
    probe_s: float

    def as_record(self) -> dict[str, float | int]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.step_s:.3g} s a step"]
        if self.val_s:
            parts.append(f"{self.val_s:.3g} s a validation")
        if self.sample_s:
            parts.append(f"{self.sample_s:.3g} s a sample grid")
        parts.append(f"{self.ckpt_s:.3g} s a checkpoint")
        return (
            f"{self.minutes:g} minutes: {self.steps} steps ({', '.join(parts)}; "
            f"probe {self.probe_s:.1f} s)"
        )


def plan_steps(
    make_trainer: Callable[[nn.Module], Trainer], model: nn.Module, minutes: float
) -> Plan:
    """Steps for ``minutes`` of wall time; ``make_trainer(model)`` builds a trainer that
    writes nothing (run None) around the copy of ``model`` it is given."""
    saved = get_rng_state()
    started = time.perf_counter()
    trainer = make_trainer(copy.deepcopy(model))
    cfg = trainer.cfg
    for _ in range(WARMUP_STEPS):
        _step(trainer)
    timed = time.perf_counter()
    for _ in range(PROBE_STEPS):
        _step(trainer)
    step_s = (time.perf_counter() - timed) / PROBE_STEPS
    val_s = sample_s = 0.0
    main = trainer.dist.is_main
    if main and trainer.val_split is not None:
        timed = time.perf_counter()
        trainer._validate()
        val_s = time.perf_counter() - timed
    model_eval = trainer.eval_model
    if main and cfg.sample_every > 0 and isinstance(model_eval, GenerativeModel):
        timed = time.perf_counter()
        with torch.no_grad():
            model_eval.eval()
            model_eval.sample(cfg.grid_size)
        sample_s = time.perf_counter() - timed
    ckpt_s = _checkpoint_seconds(trainer) if main else 0.0
    probe_s = time.perf_counter() - started
    times = [step_s, val_s, sample_s, ckpt_s, probe_s]
    step_s, val_s, sample_s, ckpt_s, probe_s = _slowest(trainer, times)
    set_rng_state(saved)
    events = ((val_s, cfg.eval_every), (sample_s, cfg.sample_every), (ckpt_s, cfg.ckpt_every))
    steps = Costs(step_s, events).steps_within(60.0 * minutes - probe_s)
    return Plan(minutes, steps, step_s, val_s, sample_s, ckpt_s, probe_s)


def _checkpoint_seconds(trainer: Trainer) -> float:
    """The time of writing one checkpoint (into a temporary folder, then removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer.run = RunFolder(tmp)
        started = time.perf_counter()
        trainer._save_checkpoint([get_rng_state()])
        seconds = time.perf_counter() - started
        trainer.run = None
    return seconds


@dataclass(frozen=True)
class Costs:
    """Seconds a run spends per step and on periodic events: ``(seconds, every)`` each
    (validation, sample grid, checkpoint), every ``every`` steps and at the end (``every``
    0 or ``seconds`` 0: never)."""

    step_s: float
    events: tuple[tuple[float, int], ...] = ()

    def seconds(self, steps: int) -> float:
        """The time of a run of ``steps`` steps."""
        total = steps * self.step_s
        for seconds, every in self.events:
            if seconds and every > 0:
                total += -(-steps // every) * seconds  # ceil: the one at the end included
        return total

    def steps_within(self, seconds: float) -> int:
        """The most steps whose run fits in ``seconds`` (at least 1)."""
        live = [(s, e) for s, e in self.events if s and e > 0]
        per = self.step_s + sum(s / e for s, e in live)
        steps = max(1, math.floor((seconds - sum(s for s, _ in live)) / per))
        while steps > 1 and self.seconds(steps) > seconds:
            steps -= 1
        while self.seconds(steps + 1) <= seconds:
            steps += 1
        return steps


def _step(trainer: Trainer) -> None:
    trainer._train_step()
    trainer.step += 1


def _slowest(trainer: Trainer, times: list[float]) -> list[float]:
    """Under DDP the largest of each time over the ranks, so every rank plans alike."""
    info = trainer.dist
    if not info.enabled:
        return times
    t = torch.tensor(times, dtype=torch.float64, device=trainer.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [float(v) for v in t.tolist()]
