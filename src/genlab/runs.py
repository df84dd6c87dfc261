"""Runs: build a config, train into a run folder, and load a trained model back.

A run folder describes itself: ``config.yaml`` (family, data, train, model options
and the data's metadata) plus safetensors weights, so :func:`load` rebuilds the
model with neither trainer nor data.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    yaml_problem,
)
from genlab.data import LoadOptions, data_roots, load_dataset
from genlab.data.dataset import DataMeta, Dataset, label_subset
from genlab.errors import CheckpointError, ConfigError, DataError, GenlabError
from genlab.family import Family, get_family
from genlab.train import checkpoint as ckpt
from genlab.train.distributed import DistInfo
from genlab.train.seeding import seed_everything
from genlab.warm_start import warm_start

__all__ = [
    "LoadedRun",
    "build_model",
    "check_run_dir",
    "is_run_dir",
    "load",
    "load_data",
    "load_run",
    "make_config",
    "read_config",
    "resume_config",
    "train_run",
]

CONFIG_FILE = "config.yaml"
STATE_FILE = "trainer_state.pt"
Weights = Literal["auto", "best", "ema", "model"]
DirAction = Literal["create", "reuse", "replace"]


# ---------------------------------------------------------------- configs


def make_config(
    family: str,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Layer dataclass defaults < family defaults < data defaults (by the data's shape and
    size) < the dataset's preset < ``base`` < YAML file < ``overrides`` (dotted)."""
    fam = get_family(family)
    user: dict[str, Any] = dict(base or {})
    if config_file is not None:
        data = load_yaml(config_file)
        data.pop("meta", None)  # a run's own config.yaml may serve as --config
        if data.pop("family", family) != family:
            raise ConfigError(f"config file {config_file} is for another family than {family!r}")
        _check_sections(data, f"config file {config_file}: ")
        user = merge(user, data)
    user = merge(user, nest(dict(overrides or {})))
    layers: dict[str, Any] = nest(dict(fam.defaults))
    for extra in _data_layers(fam, merge(layers, user)):
        layers = merge(layers, nest(dict(extra)))
    return _run_config(fam, merge(layers, user))


def _data_layers(fam: Family, layers: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The family's data defaults and the dataset's preset, for the data ``layers`` name."""
    _check_sections(layers)
    data = from_dict(DataConfig, layers.get("data"), "data.")
    found = []
    if fam.data_defaults is not None:
        ds = _cached_data(data, tuple(str(r) for r in data_roots(_load_options(data))))
        found.append(fam.data_defaults(ds.meta, len(ds.train)))
    preset = fam.presets.get(data.name.partition(":")[0])
    if preset:
        found.append(preset)
    return found


@functools.lru_cache(maxsize=2)
def _cached_data(data: DataConfig, roots: tuple[str, ...]) -> Dataset:
    """``load_data`` remembered for the last configs (``roots``: where it searched): the
    defaults need only the data's shape and size, which studies ask for many times."""
    return load_data(data)


SECTIONS = ("data", "train", "model")


def _check_sections(layers: Mapping[str, Any], where: str = "") -> None:
    """Every top-level key is a known section holding a mapping (or nothing)."""
    for key, value in layers.items():
        if key not in SECTIONS:
            valid = ", ".join(f"{s}.…" for s in SECTIONS)
            raise ConfigError(f"{where}unknown config section {key!r}; valid sections: {valid}")
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(
                f"{where}config section {key!r} must map its keys to values, not {value!r}"
            )


def _run_config(fam: Family, layers: Mapping[str, Any]) -> RunConfig:
    _check_sections(layers)
    sections = {"data": DataConfig, "train": TrainConfig, "model": fam.config}
    built = {name: from_dict(cls, layers.get(name), f"{name}.") for name, cls in sections.items()}
    return RunConfig(family=fam.name, **built)


def resume_config(
    run: str | Path,
    family: str,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The config saved in ``run``, with a YAML file and ``overrides`` on top, to resume it."""
    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"cannot resume: {run} is not a genlab run (no {CONFIG_FILE}); "
            "leave out --resume to start a new run there"
        )
    saved, _meta = read_config(run)
    _check_family(run, saved.family, family)
    base = {k: v for k, v in to_dict(saved).items() if k != "family"}
    return make_config(family, config_file=config_file, base=base, overrides=overrides)


def _check_family(run: Path, saved: str, wanted: str) -> None:
    if saved != wanted:
        raise CheckpointError(
            f"cannot resume: {run} is a {saved!r} run, not {wanted!r}; "
            f"resume it as {saved!r} or train {wanted!r} into another --out"
        )


# ---------------------------------------------------------------- data and model


def load_data(data: DataConfig) -> Dataset:
    """The dataset a config names, restricted to ``data.classes`` when set, its train
    split cut to a class-balanced ``data.label_fraction`` (the test split never)."""
    ds = load_dataset(data.name, _load_options(data))
    ds = ds.restrict_classes(data.classes) if data.classes else ds
    if data.label_fraction < 1.0:
        if ds.train.y is None:
            raise DataError(f"data.label_fraction needs labels; {ds.name!r} has none")
        keep = label_subset(ds.train.y, data.label_fraction, seed=data.seed)
        ds = replace(ds, train=ds.train.take(keep))
    return ds


def _load_options(data: DataConfig) -> LoadOptions:
    return LoadOptions(
        data_dir=data.data_dir,
        seed=data.seed,
        image_size=data.image_size,
        toy_samples=data.toy_samples,
        test_fraction=data.test_fraction,
    )


def build_model(cfg: RunConfig, meta: DataMeta) -> nn.Module:
    """The family's model for this data, initialised from ``train.seed``."""
    seed_everything(cfg.train.seed)
    return get_family(cfg.family).build(cfg.model, meta)


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


def save_config(cfg: RunConfig, meta: DataMeta, run: Path) -> None:
    text = yaml.safe_dump(
        {**to_dict(cfg), "meta": _meta_dict(meta)}, sort_keys=False, default_flow_style=None
    )
    tmp = run / f".{CONFIG_FILE}.tmp"
    tmp.write_text(text)
    os.replace(tmp, run / CONFIG_FILE)


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


def read_config(run: str | Path) -> tuple[RunConfig, DataMeta]:
    """The config and data metadata saved in a run folder."""
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{run} is not a genlab run (no {CONFIG_FILE}); train one first")
    try:
        raw = _read_mapping(path)
        meta = _meta_from_dict(raw.pop("meta"))
        family = raw.pop("family")
        cfg = _run_config(get_family(str(family)), raw)
    except (ValueError, GenlabError) as err:
        raise CheckpointError(
            f"{path} is corrupt: {err}; restore it or retrain the run with --force"
        ) from None
    return cfg, meta


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a genlab run: a config.yaml with ``family`` and ``meta``."""
    try:
        _read_mapping(path / CONFIG_FILE)
    except (OSError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- run folders


def check_run_dir(out: Path, *, force: bool) -> DirAction:
    """How a new run may use ``out``: create it, reuse an empty folder, or replace a run.

    Raises one GenlabError when it may not; writes nothing.
    """
    if not out.exists():
        return "create"
    if not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder path for the run")
    if not any(out.iterdir()):
        return "reuse"
    if not is_run_dir(out):
        what = "--force deletes only genlab runs" if force else "a run needs an empty folder"
        raise GenlabError(
            f"--out {out} is a non-empty folder that is not a genlab run ({what}); "
            "choose another --out"
        )
    if not force:
        raise GenlabError(
            f"{out} already holds a run; use --resume to continue it, --force to replace it, "
            "or another --out"
        )
    return "replace"


def _check_resumable(out: Path, cfg: RunConfig, meta: DataMeta) -> None:
    """Resuming ``out`` with ``cfg`` on data ``meta`` can work; reads only."""
    saved, saved_meta = read_config(out)
    _check_family(out, saved.family, cfg.family)
    if saved_meta != meta:
        raise CheckpointError(
            f"cannot resume: {out} was trained on {saved_meta.name} {saved_meta.shape} "
            f"(levels {saved_meta.levels}), not {meta.name} {meta.shape} (levels {meta.levels}); "
            "resume with the run's own data"
        )
    step = int(ckpt.load_state(out / STATE_FILE)["step"])
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
        import torch.distributed as dist

        box = [None if error is None else str(error)]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            error = GenlabError(box[0])
    if error is not None:
        raise error


def _discard_unfinished(out: Path, keep_dir: bool) -> None:
    """Remove a new run that failed before its first checkpoint (it cannot be resumed)."""
    if (out / STATE_FILE).exists() or (out / ckpt.STAGE / ckpt.MARKER).exists():
        return
    if not keep_dir:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# ---------------------------------------------------------------- training


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
    written; a new run that fails before its first checkpoint is removed again.
    """
    from genlab.threads import default_threads, use_threads
    from genlab.train import Trainer, init_distributed, resolve_device

    out = Path(out)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # DDP ranks share the cores
    threads = use_threads(cfg.train.threads or max(1, default_threads() // ranks_here))
    cfg = replace(cfg, train=replace(cfg.train, threads=threads))  # recorded in config.yaml
    dataset = load_data(cfg.data)
    if dataset.root is not None:  # recorded, so sample/eval/study find it from any shell
        cfg = replace(cfg, data=replace(cfg.data, data_dir=dataset.root))
    model = build_model(cfg, dataset.meta)
    if not resume:
        warm_start(model, _trained_model)  # model.init=RUN, before anything is written
    dist_info = init_distributed(device)

    def trainer() -> Trainer:
        return Trainer(
            model,
            dataset,
            cfg.train,
            out,
            device=device,
            dist_info=dist_info,
            resume=resume,
            callbacks=callbacks,
        )

    if resume:
        _on_main(dist_info, lambda: ckpt.recover(out))  # finish a commit cut by a kill
        _check_resumable(out, cfg, dataset.meta)
        loaded = trainer()  # reads the checkpoint; a bad one stops here, nothing written
        _on_main(dist_info, lambda: save_config(cfg, dataset.meta, out))
        loaded.fit()
        return out
    actions: list[DirAction] = []
    _on_main(dist_info, lambda: actions.append(check_run_dir(out, force=force)))
    try:
        _on_main(dist_info, lambda: _create_run_dir(out, actions[0], cfg, dataset.meta))
        trainer().fit()
    except BaseException:
        if dist_info.is_main and actions:
            _discard_unfinished(out, keep_dir=actions[0] == "reuse")
        raise
    return out


def _create_run_dir(out: Path, action: DirAction, cfg: RunConfig, meta: DataMeta) -> None:
    if action == "replace":
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, meta, out)


# ---------------------------------------------------------------- loading


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
    them, else the EMA weights, else the raw ones. Nothing in the folder is changed,
    except that an interrupted checkpoint commit is finished (when writable).
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
                raise CheckpointError(
                    f"{path} does not fit the model in {CONFIG_FILE} ({ckpt.fit_problem(err)}); "
                    "restore it or retrain the run"
                ) from None
            return LoadedRun(cfg, meta, model.to(device).eval(), name)
    raise CheckpointError(f"{run} holds no weights (model.safetensors); was training interrupted?")


def _trained_model(run: str) -> tuple[nn.Module, str]:
    """(model, family name) of a trained run, on the CPU: what a warm start copies from."""
    loaded = load_run(run, device="cpu")
    return loaded.model, loaded.config.family


def load(
    run: str | Path, *, weights: Weights = "auto", device: str | torch.device = "cpu"
) -> nn.Module:
    """``genlab.load(run_dir)``: the trained model, ready to sample and score."""
    return load_run(run, weights=weights, device=device).model
