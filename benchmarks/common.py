"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "cpu_training_rate",
    "genlab_cmd",
    "median_time",
    "records",
    "run",
    "timed",
    "train_step",
    "validation",
]


def run(cmd: list[str]) -> str:
    """Run a command; its stdout, or exit with the command and the end of its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stdout


def timed(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, CPU seconds of the process), or exit with its stderr."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"failed: {' '.join(cmd)}\n{err.read()[-2000:]}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def records(run_dir: Path, kind: str) -> list[dict]:
    """The records of one ``kind`` ("train", "val", "time") of a run's metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def validation(run_dir: Path) -> list[dict]:
    """The validation records of a run's metrics.jsonl, in step order."""
    return records(run_dir, "val")


def train_step(model: Any, opt: Any, x: Any) -> Callable[[], None]:
    """One training step of ``model.loss(x)`` with ``opt``, as the trainer takes it."""

    def step() -> None:
        loss, _ = model.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def median_time(
    fn: Callable[[], object],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median time of ``fn()`` in seconds over ``repeats`` calls, after ``warmup``; by
    ``clock`` (wall time, or ``time.process_time`` for this process's CPU time)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    times.sort()
    return times[len(times) // 2]


def genlab_cmd(*args: str) -> list[str]:
    """The command line of ``genlab ARGS`` with this interpreter."""
    return [sys.executable, "-m", "genlab", *args]


def cpu_training_rate(family: str, data: str, overrides: dict, repeats: int) -> dict[str, float]:
    """Parameters and training images per CPU second of this process (its compute time,
    whatever else runs) for ``family`` on ``data`` with ``overrides``, at the config's
    batch size, with the trainer's AdamW; ``model.prepare`` (flows) runs first."""
    import torch  # here, so the stdlib-only scripts can import this module

    from genlab.config import TrainConfig
    from genlab.data import load_dataset
    from genlab.runs import build_model, make_config
    from genlab.train.optim import make_optimizer

    cfg = make_config(family, overrides={"data.name": data, **overrides})
    ds = load_dataset(data)
    torch.manual_seed(0)
    model = build_model(cfg, ds.meta)
    if callable(getattr(model, "prepare", None)):
        model.prepare(ds.train.x[:512])
    opt = make_optimizer(model, TrainConfig(lr=1e-4))
    x = ds.train.x[: cfg.train.batch_size]
    model.train()
    cpu = median_time(train_step(model, opt, x), repeats, clock=time.process_time)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "train_images_per_s": len(x) / cpu,
    }
