"""Training a run: every check before anything is written, then the trainer.

The folder's lifecycle (claiming it, recovering a cut checkpoint, discarding a new run
that failed before its first checkpoint) belongs to :class:`RunFolder`; this module
decides when, and coordinates the DDP ranks (rank 0 alone writes).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from genlab.config import RunConfig
from genlab.data.dataset import DataMeta, Dataset
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.family import get_family
from genlab.runs.config import check_family, load_data, parse_config
from genlab.runs.loading import build_model, trained_model
from genlab.runs.teacher import attach_teacher
from genlab.threads import default_threads, use_threads
from genlab.train import Trainer, close_distributed, init_distributed, resolve_device
from genlab.train.budget import plan_steps
from genlab.train.distributed import DistInfo
from genlab.train.logging import RunLogger
from genlab.train.run_folder import DirAction, RunFolder
from genlab.warm_start import warm_start

__all__ = ["train_run"]


def train_run(
    cfg: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Train ``cfg`` into the run folder ``out``; returns its path.

    Every check (config, data, model, folder, checkpoint) happens before anything is
    written; a new run that fails before its first step is removed again, and one that
    has trained a step is never removed (a signal stops it with a checkpoint).
    """
    folder = RunFolder(out)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # DDP ranks share the cores
    threads = use_threads(cfg.train.threads or max(1, default_threads() // ranks_here))
    cfg = replace(cfg, train=replace(cfg.train, threads=threads))  # recorded in config.yaml
    dataset = load_data(cfg.data)
    if dataset.root is not None:  # recorded, so sample/eval/study find it from any shell
        cfg = replace(cfg, data=replace(cfg.data, data_dir=dataset.root))
    model = build_model(cfg, dataset.meta)
    if not resume:
        warm_start(model, trained_model)  # model.init=RUN, before anything is written
    # model.teacher=RUN (distillation), before anything is written
    attach_teacher(model, trained_model, get_family(cfg.family), resume=resume)
    dist_info = init_distributed(device)
    ok = False
    try:
        _train(cfg, model, dataset, folder, device, dist_info, resume, force, callbacks)
        ok = True
    finally:
        close_distributed(dist_info, ok=ok)
    return folder.path


def _train(
    cfg: RunConfig,
    model: nn.Module,
    dataset: Dataset,
    folder: RunFolder,
    device: torch.device,
    dist_info: DistInfo,
    resume: bool,
    force: bool,
    callbacks: Sequence[Any],
) -> None:
    def trainer() -> Trainer:
        return Trainer(
            model,
            dataset,
            cfg.train,
            folder,
            device=device,
            dist_info=dist_info,
            resume=resume,
            callbacks=callbacks,
        )

    if resume:
        _on_main(dist_info, folder.recover)  # finish a commit cut by a kill
        _check_resumable(folder, cfg, dataset.meta)
        loaded = trainer()  # reads the checkpoint; a bad one stops here, nothing written
        _on_main(dist_info, lambda: folder.write_config(cfg, dataset.meta))
        loaded.fit()
        return
    actions: list[DirAction] = []
    _on_main(dist_info, lambda: actions.append(folder.check_new(force=force)))
    plan = None
    if cfg.train.minutes > 0:  # the probe writes nothing; the planned steps are recorded
        plan = plan_steps(
            lambda copy: Trainer(
                copy, dataset, cfg.train, None, device=device, dist_info=dist_info
            ),
            model,
            cfg.train.minutes,
        )
        cfg = replace(cfg, train=replace(cfg.train, steps=plan.steps))
        if dist_info.is_main:
            print(f"genlab: {plan.describe()}", file=sys.stderr)
    built: list[Trainer] = []
    try:
        _on_main(dist_info, lambda: folder.claim(actions[0], cfg, dataset.meta))
        if plan is not None and dist_info.is_main:
            RunLogger(folder.metrics_path).log(0, "plan", plan.as_record())
        built.append(trainer())
        built[0].fit()
    except BaseException:
        trained = built[0].step if built else 0
        if dist_info.is_main and actions and not trained:  # kept once a step has trained
            folder.discard_unfinished(keep_dir=actions[0] == "reuse")
        raise


def _check_resumable(folder: RunFolder, cfg: RunConfig, meta: DataMeta) -> None:
    """Resuming ``folder`` with ``cfg`` on data ``meta`` can work; reads only."""
    out = folder.path
    saved, saved_meta = folder.read_config(parse_config)
    check_family(out, saved.family, cfg.family)
    if saved_meta != meta:
        raise CheckpointError(
            f"cannot resume: {out} was trained on {saved_meta.name} {saved_meta.shape} "
            f"(levels {saved_meta.levels}), not {meta.name} {meta.shape} (levels {meta.levels}); "
            "resume with the run's own data"
        )
    if not folder.has_checkpoint():
        raise CheckpointError(
            f"cannot resume: {out} has no checkpoint (it stopped before its first one; its "
            "config.yaml and metrics.jsonl are kept); train it again with --force"
        )
    step = folder.read_state().step
    if step >= cfg.train.steps:
        raise ConfigError(
            f"{out} is already at step {step} of train.steps={cfg.train.steps}; "
            f"resume with --steps N (N > {step}) to train longer"
        )


def _on_main(dist_info: DistInfo, action: Callable[[], None]) -> None:
    """Run ``action`` on rank 0; under DDP every rank raises its error, so none waits forever."""
    error: GenlabError | None = None
    if dist_info.is_main:
        try:
            action()
        except GenlabError as err:
            error = err
    if dist_info.enabled:
        box = [None if error is None else str(error)]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            error = GenlabError(box[0])
    if error is not None:
        raise error
