"""Run configs: the layered ``make_config``, the config a run saved, and its data.

Layers, lowest first: dataclass defaults < family defaults < data defaults (by the
data's shape and size) < the dataset's preset < ``base`` < YAML file < dotted overrides.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from genlab.data import LoadOptions, data_roots, load_dataset
from genlab.data.dataset import DataMeta, Dataset, label_subset
from genlab.errors import CheckpointError, ConfigError, DataError
from genlab.family import Family, get_family
from genlab.train.run_folder import RunFolder

__all__ = [
    "SECTIONS",
    "check_family",
    "load_data",
    "make_config",
    "parse_config",
    "read_config",
    "resume_config",
]

SECTIONS = ("data", "train", "model")


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


def parse_config(family: str, sections: Mapping[str, Any]) -> RunConfig:
    """The RunConfig of ``family`` from saved ``sections`` (no layering: saved = resolved)."""
    return _run_config(get_family(family), sections)


def read_config(run: str | Path) -> tuple[RunConfig, DataMeta]:
    """The config and data metadata saved in a run folder (reads only)."""
    return RunFolder(run).read_config(parse_config)


def resume_config(
    run: str | Path,
    family: str,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The config saved in ``run``, with a YAML file and ``overrides`` on top, to resume it."""
    folder = RunFolder(run)
    if not folder.has_config():
        raise CheckpointError(
            f"cannot resume: {folder.path} is not a genlab run (no {folder.config_path.name}); "
            "leave out --resume to start a new run there"
        )
    saved, _meta = folder.read_config(parse_config)
    check_family(folder.path, saved.family, family)
    base = {k: v for k, v in to_dict(saved).items() if k != "family"}
    return make_config(family, config_file=config_file, base=base, overrides=overrides)


def check_family(run: Path, saved: str, wanted: str) -> None:
    """A run of family ``saved`` is resumed as ``wanted``; CheckpointError if they differ."""
    if saved != wanted:
        raise CheckpointError(
            f"cannot resume: {run} is a {saved!r} run, not {wanted!r}; "
            f"resume it as {saved!r} or train {wanted!r} into another --out"
        )


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
