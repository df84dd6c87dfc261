"""Runs: build a config, train into a run folder, and load a trained model back.

A run folder describes itself: ``config.yaml`` (family, data, train, model options
and the data's metadata) plus safetensors weights, so :func:`load` rebuilds the
model with neither trainer nor data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from torch import nn

from genlab.config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    load_yaml,
    merge,
    nest,
    to_dict,
)
from genlab.data import LoadOptions, load_dataset
from genlab.data.dataset import DataMeta, Dataset
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.family import Family, get_family
from genlab.train import checkpoint as ckpt
from genlab.train.seeding import seed_everything

__all__ = [
    "LoadedRun",
    "build_model",
    "load",
    "load_data",
    "load_run",
    "make_config",
    "prepare_run_dir",
    "train_run",
]

CONFIG_FILE = "config.yaml"
Weights = Literal["auto", "best", "ema", "model"]


def make_config(
    family: str,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Layer defaults < family defaults < ``base`` < YAML file < ``overrides`` (dotted)."""
    fam = get_family(family)
    layers: dict[str, Any] = nest(dict(fam.defaults))
    if base:
        layers = merge(layers, base)
    if config_file is not None:
        data = load_yaml(config_file)
        if data.pop("family", family) != family:
            raise ConfigError(f"config file {config_file} is for another family than {family!r}")
        layers = merge(layers, data)
    layers = merge(layers, nest(dict(overrides or {})))
    return _run_config(fam, layers)


def _run_config(fam: Family, layers: Mapping[str, Any]) -> RunConfig:
    sections = {"data": DataConfig, "train": TrainConfig, "model": fam.config}
    for key in layers:
        if key not in sections:
            keys = [f"{s}.…" for s in sections]
            raise ConfigError(f"unknown config section {key!r}; valid sections: {', '.join(keys)}")
    built = {name: from_dict(cls, layers.get(name), f"{name}.") for name, cls in sections.items()}
    return RunConfig(family=fam.name, **built)


def load_data(data: DataConfig) -> Dataset:
    """The dataset a config names, restricted to ``data.classes`` when set."""
    opts = LoadOptions(
        data_dir=data.data_dir,
        seed=data.seed,
        image_size=data.image_size,
        toy_samples=data.toy_samples,
        test_fraction=data.test_fraction,
    )
    ds = load_dataset(data.name, opts)
    return ds.restrict_classes(data.classes) if data.classes else ds


def build_model(cfg: RunConfig, meta: DataMeta) -> nn.Module:
    """The family's model for this data, initialised from ``train.seed``."""
    seed_everything(cfg.train.seed)
    return get_family(cfg.family).build(cfg.model, meta)


def _meta_dict(meta: DataMeta) -> dict[str, Any]:
    return {
        "name": meta.name,
        "shape": list(meta.shape),
        "levels": meta.levels,
        "num_classes": meta.num_classes,
    }


def save_config(cfg: RunConfig, meta: DataMeta, run: Path) -> None:
    text = yaml.safe_dump(
        {**to_dict(cfg), "meta": _meta_dict(meta)}, sort_keys=False, default_flow_style=None
    )
    tmp = run / f".{CONFIG_FILE}.tmp"
    tmp.write_text(text)
    os.replace(tmp, run / CONFIG_FILE)


def read_config(run: Path) -> tuple[RunConfig, DataMeta]:
    """The config and data metadata saved in a run folder."""
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{run} is not a genlab run (no {CONFIG_FILE}); train one first")
    try:
        raw = yaml.safe_load(path.read_text())
        meta_raw = raw.pop("meta")
        family = raw.pop("family")
        meta = DataMeta(
            name=meta_raw["name"],
            shape=tuple(meta_raw["shape"]),
            levels=meta_raw["levels"],
            num_classes=meta_raw["num_classes"],
        )
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path} is corrupt ({type(err).__name__}: {err})") from None
    return _run_config(get_family(family), raw), meta


def prepare_run_dir(out: Path, *, resume: bool, force: bool) -> None:
    """Check ``out`` may be written; with ``force`` remove an old run (never other data)."""
    if resume:
        if not (out / CONFIG_FILE).is_file():
            raise CheckpointError(f"cannot resume: {out} is not a genlab run (no {CONFIG_FILE})")
        return
    if not out.exists():
        return
    if out.is_file():
        raise GenlabError(f"--out {out} is a file; give a folder path for the run")
    if not any(out.iterdir()):
        return
    if not force:
        raise GenlabError(
            f"{out} already holds a run; use --resume to continue it, --force to replace it, "
            "or another --out"
        )
    if not (out / CONFIG_FILE).is_file():
        raise GenlabError(f"{out} is not empty and is not a genlab run; refusing to delete it")
    shutil.rmtree(out)


def train_run(
    cfg: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Train ``cfg`` into the run folder ``out``; returns its path.

    Every check (config, data, model, folder) happens before anything is written.
    """
    from genlab.train import Trainer, init_distributed, resolve_device

    out = Path(out)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    dataset = load_data(cfg.data)
    model = build_model(cfg, dataset.meta)
    dist_info = init_distributed(device)
    if dist_info.is_main:
        prepare_run_dir(out, resume=resume, force=force)
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, dataset.meta, out)
    trainer = Trainer(
        model,
        dataset,
        cfg.train,
        out,
        device=device,
        dist_info=dist_info,
        resume=resume,
        callbacks=callbacks,
    )
    trainer.fit()
    return out


@dataclass(frozen=True)
class LoadedRun:
    config: RunConfig
    meta: DataMeta
    model: nn.Module
    weights: str  # which weights were loaded: best, ema or model


def load_run(
    run: str | Path, *, weights: Weights = "auto", device: str | torch.device = "cpu"
) -> LoadedRun:
    """Rebuild a run's model from its folder, in eval mode.

    ``weights="auto"`` takes the validation-selected weights (best) when the run kept
    them, else the EMA weights, else the raw ones.
    """
    run = Path(run)
    cfg, meta = read_config(run)
    if os.access(run, os.W_OK):
        ckpt.recover(run)
    model = get_family(cfg.family).build(cfg.model, meta)
    order = ["best", "ema", "model"] if weights == "auto" else [weights]
    for name in order:
        path = run / f"{name}.safetensors"
        if path.is_file() or weights != "auto":
            state, _ = ckpt.load_weights(path)
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                first = str(err).splitlines()[0]
                raise CheckpointError(f"{path} does not fit the model ({first})") from None
            return LoadedRun(cfg, meta, model.to(device).eval(), name)
    raise CheckpointError(f"{run} holds no weights (model.safetensors); was training interrupted?")


def load(
    run: str | Path, *, weights: Weights = "auto", device: str | torch.device = "cpu"
) -> nn.Module:
    """``genlab.load(run_dir)``: the trained model, ready to sample and score."""
    return load_run(run, weights=weights, device=device).model
