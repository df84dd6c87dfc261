"""The run folder: the one module of genlab that spells a file name inside a run.

::

    RUN/
      config.yaml              the resolved run config and the data's meta
      model.safetensors        raw weights at the last checkpoint
      ema.safetensors          EMA weights (train.ema > 0)
      best.safetensors         validation-selected weights (train.select=best)
      trainer_state.pt         optimizer, step, RNG streams, best score
      metrics.jsonl            the training log
      samples/step_NNNNNNN.png periodic sample grids
      tensorboard/             when TensorBoard is installed
      .checkpoint-tmp/         a checkpoint being committed (COMPLETE marks it whole)

A checkpoint is several files that must agree on the step. They are first written in
full to the stage, then the ``COMPLETE`` marker (the list of files) is written, then
each file is moved over its old copy with ``os.replace``. A process killed at any
moment leaves either the old checkpoint (no marker: the stage is discarded by
:meth:`RunFolder.recover`) or a complete new one, whose moves ``recover`` finishes.

Reading a run never writes: a checkpoint whose moves were cut is read where its files
are (the stage for the ones not moved yet), so a read-only run loads as it will after
recovery. Only training (new run, resume) recovers, claims or deletes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from genlab.atomic import fsync, write_atomic
from genlab.config import RunConfig, to_dict, yaml_problem
from genlab.data.dataset import DataMeta
from genlab.errors import CheckpointError, GenlabError
from genlab.train import checkpoint as ckpt

__all__ = [
    "Checkpoint",
    "DirAction",
    "RunFolder",
    "TrainerState",
    "Weights",
    "recover",
    "write_checkpoint",
]

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
STATE = "trainer_state.pt"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
STAGE = ".checkpoint-tmp"
MARKER = "COMPLETE"
AUTO_ORDER = ("best", "ema", "model")  # weights="auto": validation-selected, EMA, raw

Weights = Literal["auto", "best", "ema", "model"]
DirAction = Literal["create", "reuse", "replace"]
ParseConfig = Callable[[str, dict[str, Any]], RunConfig]  # (family, sections) -> config


def _weights_file(name: str) -> str:
    return f"{name}.safetensors"


# ---------------------------------------------------------------- checkpoint records


@dataclass(frozen=True)
class TrainerState:
    """What the trainer needs, beyond the weights, to continue exactly where it stopped."""

    step: int
    optimizer: dict[str, Any]
    rng: list[dict[str, torch.Tensor]]  # one set of RNG states per DDP rank
    best_value: float | None = None
    best_step: int | None = None
    world_size: int = 1
    seconds: tuple[float, float] = (0.0, 0.0)  # (training, validation) so far

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "optimizer": self.optimizer,
            "rng": self.rng,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "world_size": self.world_size,
            "seconds": list(self.seconds),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainerState:
        train_s, val_s = raw.get("seconds", [0.0, 0.0])
        return cls(
            step=int(raw["step"]),
            optimizer=raw.get("optimizer", {}),
            rng=raw.get("rng", []),
            best_value=raw.get("best_value"),
            best_step=raw.get("best_step"),
            world_size=int(raw.get("world_size", 1)),
            seconds=(float(train_s), float(val_s)),
        )


@dataclass(frozen=True)
class Checkpoint:
    """Trainer state and weights of one step (``best`` is from ``state.best_step``)."""

    state: TrainerState
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None = None
    best: dict[str, torch.Tensor] | None = None


def write_checkpoint(run: Path, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Write each ``name -> writer(path)`` into ``run`` as one atomic unit."""
    stage = run / STAGE
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    for name, write in writers.items():
        write(stage / name)
        fsync(stage / name)
    (stage / MARKER).write_text(json.dumps(list(writers)))
    fsync(stage / MARKER)
    fsync(stage)
    _commit(run)


def _commit(run: Path) -> None:
    stage = run / STAGE
    for name in json.loads((stage / MARKER).read_text()):
        if (stage / name).exists():  # absent when an earlier commit moved it already
            os.replace(stage / name, run / name)
    fsync(run)
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


# ---------------------------------------------------------------- config.yaml


def _meta_dict(meta: DataMeta) -> dict[str, Any]:
    return {
        "name": meta.name,
        "shape": list(meta.shape),
        "levels": meta.levels,
        "num_classes": meta.num_classes,
    }


def _meta_from_dict(raw: Any) -> DataMeta:
    """DataMeta from config.yaml's ``meta`` mapping; ValueError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError("'meta' is not a mapping")
    shape, levels, classes = raw.get("shape"), raw.get("levels"), raw.get("num_classes")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"meta.shape={shape!r} is not a list of positive integers")
    if levels is not None and not (isinstance(levels, int) and levels >= 2):
        raise ValueError(f"meta.levels={levels!r} is not an integer >= 2 or null")
    if classes is not None and not (isinstance(classes, int) and classes >= 1):
        raise ValueError(f"meta.num_classes={classes!r} is not a positive integer or null")
    return DataMeta(str(raw.get("name")), tuple(shape), levels, classes)


def _read_mapping(path: Path) -> dict[str, Any]:
    """config.yaml as a mapping with ``family`` and ``meta``; ValueError if it is not."""
    try:
        raw = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ValueError("it is not a text file") from None
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML ({yaml_problem(err)})") from None
    if not isinstance(raw, dict):
        raise ValueError("it does not hold a mapping")
    missing = [k for k in ("family", "meta") if k not in raw]
    if missing:
        raise ValueError(f"it has no {' or '.join(repr(k) for k in missing)} key")
    return raw


# ---------------------------------------------------------------- the folder


class RunFolder:
    """One run folder: its file names, config, checkpoints and weights."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -------------------------------------------------------------- names

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    def records(self) -> list[dict[str, Any]]:
        """metrics.jsonl's records in order (a line cut by a kill is skipped)."""
        path, out = self.metrics_path, []
        for line in path.read_text().splitlines() if path.is_file() else []:
            with suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def sample_grids(self) -> list[Path]:  # oldest first
        return sorted((self.path / SAMPLES).glob("step_*.png"))

    def sample_path(self, step: int) -> Path:
        """Where the sample grid of ``step`` goes."""
        return self.path / SAMPLES / f"step_{step:07d}.png"

    def _current(self, name: str) -> Path:
        """The newest committed copy of ``name``: still in the stage when a commit was cut
        after its marker and before this file's move, else in the folder."""
        staged = self.path / STAGE / name
        if (self.path / STAGE / MARKER).is_file() and staged.is_file():
            return staged
        return self.path / name

    def has_weights(self, name: str) -> bool:
        """Whether the run kept the ``name`` weights (best, ema or model)."""
        return self.weights_path(name).is_file()

    def weights_path(self, name: str) -> Path:
        """The file of the ``name`` weights (best, ema or model), where it is now."""
        return self._current(_weights_file(name))

    # -------------------------------------------------------------- config.yaml

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def is_run(self) -> bool:
        """Whether the folder holds a genlab run: a config.yaml with ``family`` and ``meta``."""
        try:
            _read_mapping(self.config_path)
        except (OSError, ValueError):
            return False
        return True

    def write_config(self, cfg: RunConfig, meta: DataMeta) -> None:
        data = {**to_dict(cfg), "meta": _meta_dict(meta)}
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
        write_atomic(self.config_path, text)

    def read_config(self, parse: ParseConfig) -> tuple[RunConfig, DataMeta]:
        """The saved config (``parse(family, sections)`` builds it) and data metadata."""
        path = self.config_path
        if not path.is_file():
            raise CheckpointError(f"{self.path} is not a genlab run (no {CONFIG}); train one first")
        try:
            raw = _read_mapping(path)
            meta = _meta_from_dict(raw.pop("meta"))
            cfg = parse(str(raw.pop("family")), raw)
        except (ValueError, GenlabError) as err:
            raise CheckpointError(
                f"{path} is corrupt: {err}; restore it or retrain the run with --force"
            ) from None
        return cfg, meta

    # -------------------------------------------------------------- claiming

    def check_new(self, *, force: bool) -> DirAction:
        """How a new run may use the folder: create it, reuse an empty folder, or replace
        a run. Raises one GenlabError when it may not; writes nothing."""
        out = self.path
        if not out.exists():
            return "create"
        if not out.is_dir():
            raise GenlabError(f"--out {out} is a file; give a folder path for the run")
        if not any(out.iterdir()):
            return "reuse"
        if not self.is_run():
            what = "--force deletes only genlab runs" if force else "a run needs an empty folder"
            raise GenlabError(
                f"--out {out} is a non-empty folder that is not a genlab run ({what}); "
                "choose another --out"
            )
        if not force:
            raise GenlabError(
                f"{out} already holds a run; use --resume to continue it, --force to replace "
                "it, or another --out"
            )
        return "replace"

    def claim(self, action: DirAction, cfg: RunConfig, meta: DataMeta) -> None:
        """Make the folder a new run holding only ``cfg`` (``action`` from check_new)."""
        if action == "replace":
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(cfg, meta)

    def has_checkpoint(self) -> bool:
        return (self.path / STATE).exists() or (self.path / STAGE / MARKER).exists()

    def discard_unfinished(self, *, keep_dir: bool) -> None:
        """Remove a new run that failed before its first checkpoint (it cannot be resumed);
        with ``keep_dir`` the (formerly empty) folder itself stays."""
        if self.has_checkpoint():
            return
        if not keep_dir:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for child in self.path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    # -------------------------------------------------------------- checkpoints

    def recover(self) -> None:
        """Finish a checkpoint commit cut by a kill, or discard an incomplete one (writes)."""
        recover(self.path)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Commit ``checkpoint`` atomically: weights, then the trainer state."""
        step = checkpoint.state.step
        writers: dict[str, Callable[[Path], None]] = {
            _weights_file("model"): lambda p: ckpt.save_weights(checkpoint.model, p, step),
        }
        if checkpoint.ema is not None:
            ema = checkpoint.ema
            writers[_weights_file("ema")] = lambda p: ckpt.save_weights(ema, p, step)
        if checkpoint.best is not None:
            best, best_step = checkpoint.best, checkpoint.state.best_step or 0
            writers[_weights_file("best")] = lambda p: ckpt.save_weights(best, p, best_step)
        writers[STATE] = lambda p: torch.save(checkpoint.state.to_dict(), p)
        write_checkpoint(self.path, writers)

    def read_state(self) -> TrainerState:
        return TrainerState.from_dict(ckpt.load_state(self._current(STATE)))

    def read_checkpoint(self, *, ema: bool) -> Checkpoint:
        """The last checkpoint (with its EMA weights when ``ema``); CheckpointError when a
        file is missing or corrupt, or the weights and the state disagree on the step."""
        state = self.read_state()
        weights, step = ckpt.load_weights(self.weights_path("model"))
        if step != state.step:
            raise CheckpointError(
                f"{self.path}: {_weights_file('model')} is from step {step} but {STATE} from "
                f"step {state.step}; restart with --force"
            )
        best_path = self.weights_path("best")
        return Checkpoint(
            state,
            weights,
            ckpt.load_weights(self.weights_path("ema"))[0] if ema else None,
            ckpt.load_weights(best_path)[0] if best_path.is_file() else None,
        )

    # -------------------------------------------------------------- weights

    def choose_weights(self, weights: Weights = "auto") -> str:
        """Which weights to load: ``weights`` itself, or for "auto" the validation-selected
        ones (best) when the run kept them, else EMA, else raw (model)."""
        if weights != "auto":
            return weights
        for name in AUTO_ORDER:
            if self.has_weights(name):
                return name
        raise CheckpointError(
            f"{self.path} holds no weights ({_weights_file('model')}); was training interrupted?"
        )

    def read_weights(self, name: str) -> dict[str, torch.Tensor]:
        return ckpt.load_weights(self.weights_path(name))[0]
