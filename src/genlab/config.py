"""Typed run configuration: frozen dataclasses, YAML files and dotted overrides.

A run is described by :class:`RunConfig`: ``family``, ``data`` (:class:`DataConfig`),
``train`` (:class:`TrainConfig`) and ``model`` (the family's own frozen dataclass).
Values are layered, later wins: dataclass defaults < the family's defaults <
``--config FILE`` (YAML) < ``key=value`` overrides < explicit CLI flags. Every value
is checked against its field type; an unknown key is one error that suggests the
closest key and lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from genlab.errors import ConfigError

__all__ = [
    "DataConfig",
    "RunConfig",
    "TrainConfig",
    "check_fields",
    "from_dict",
    "load_yaml",
    "parse_overrides",
    "ranged",
    "to_dict",
    "yaml_problem",
]


# section.key -> (is the value valid, what a valid value is); checked on construction,
# so no DataConfig or TrainConfig can exist with a value out of range
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "train.steps": (lambda v: v >= 1, "at least 1"),
    "data.label_fraction": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "train.batch_size": (lambda v: v >= 1, "at least 1"),
    "train.lr": (lambda v: v > 0, "positive"),
    "train.min_lr_ratio": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "train.warmup": (lambda v: v >= 0, "at least 0"),
    "train.weight_decay": (lambda v: v >= 0, "at least 0"),
    "train.beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.beta2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.grad_clip": (lambda v: v >= 0, "at least 0 (0 disables clipping)"),
    "train.ema": (lambda v: 0 <= v < 1, "in [0, 1) (0 disables the EMA)"),
    "train.val_fraction": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.eval_every": (lambda v: v >= 1, "at least 1"),
    "train.log_every": (lambda v: v >= 1, "at least 1"),
    "train.ckpt_every": (lambda v: v >= 1, "at least 1"),
    "train.ckpt_minutes": (lambda v: v >= 0, "at least 0 (0: checkpoint by steps only)"),
    "train.val_max": (lambda v: v >= 1, "at least 1"),
    "train.threads": (lambda v: v >= 0, "at least 0 (0: one per physical core)"),
    "train.sample_every": (lambda v: v >= 0, "at least 0 (0 disables sample grids)"),
    "train.grid_size": (lambda v: v >= 1, "at least 1"),
    "data.toy_samples": (lambda v: v >= 1, "at least 1"),
    "data.test_fraction": (lambda v: 0 < v < 1, "in (0, 1)"),
    "data.image_size": (lambda v: v is None or v >= 1, "at least 1"),
}


def _check_ranges(section: str, cfg: Any) -> None:
    """One ConfigError for the first value of ``cfg`` out of its range."""
    for key, (valid, what) in _RANGES.items():
        prefix, name = key.split(".")
        if prefix == section and not valid(getattr(cfg, name)):
            raise ConfigError(f"{key}={getattr(cfg, name)} is out of range: it must be {what}")


def ranged(default: Any, valid: Callable[[Any], bool], what: str) -> Any:
    """A dataclass field whose valid range is written next to it: ``steps: int | None =
    ranged(None, lambda v: v >= 1, "at least 1")``; :func:`check_fields` checks it (a
    None value, meaning "the model's own default", is always valid)."""
    return field(default=default, metadata={"range": (valid, what)})


def check_fields(cfg: Any, prefix: str = "") -> None:
    """One ConfigError for the first field of ``cfg`` out of the range stated next to it
    by :func:`ranged`; call it from the dataclass's ``__post_init__``."""
    for f in dataclasses.fields(cfg):
        rule = f.metadata.get("range")
        value = getattr(cfg, f.name)
        if rule is not None and value is not None and not rule[0](value):
            raise ConfigError(f"{prefix}{f.name}={value} is out of range: it must be {rule[1]}")


@dataclass(frozen=True)
class DataConfig:
    """Which data to train on, and how to load it."""

    name: str = "digits"
    data_dir: str | None = None  # folder holding dataset folders (else $GENLAB_DATA, ./data)
    classes: tuple[int, ...] | None = None  # keep only these classes (train and eval)
    label_fraction: float = 1.0  # keep this class-balanced share of train (seeded by seed)
    seed: int = 0  # toy2d sampling, folder split, label_fraction subset
    image_size: int | None = None  # folder:PATH resize
    toy_samples: int = 20000  # toy2d training points
    test_fraction: float = 0.1  # folder:PATH test share

    def __post_init__(self) -> None:
        _check_ranges("data", self)


@dataclass(frozen=True)
class TrainConfig:
    """The one training loop's options (see genlab.train.Trainer)."""

    steps: int = 2000
    batch_size: int = 128  # global batch, split across DDP ranks
    lr: float = 1e-3
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    warmup: int = 100  # linear warm-up steps (at most a tenth of the run: see warmup_steps)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    ema: float = 0.999  # EMA decay of weights; 0 disables
    bf16: bool = False  # bf16 autocast for the forward pass
    compile: bool = False  # torch.compile the loss
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads of torch; 0: one per physical core (the run records it)
    val_fraction: float = 0.1  # share of train held out for validation / selection
    val_max: int = 1000  # ... but at most this many images: a fixed cost on any data size
    select: Literal["best", "last"] = "best"  # keep the best validation weights, or the last
    eval_every: int = 250
    log_every: int = 25
    sample_every: int = 1000  # sample grid every N steps (and at the end); 0 disables
    ckpt_every: int = 500
    ckpt_minutes: float = 10.0  # also checkpoint when this much wall time has passed
    grid_size: int = 64  # images in each sample grid
    progress: bool = True  # progress bar on stderr
    find_unused_parameters: bool = False  # DDP option for models with unused branches

    def __post_init__(self) -> None:
        _check_ranges("train", self)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved as the run's config.yaml."""

    family: str
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: Any = None  # the family's frozen config dataclass


# ---------------------------------------------------------------- typed values


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a comma-separated list"
    if tp is type(None):
        return "none"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _scalar(value: Any, tp: Any) -> Any:
    """Coerce one YAML or command-line value to ``tp``; raise ValueError if it cannot."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ValueError
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value) if not isinstance(value, str) else int(value.strip())
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    raise ValueError


def coerce(value: Any, tp: Any) -> Any:
    """Coerce ``value`` (a YAML value or a command-line string) to the type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        for choice in choices:
            if str(value) == str(choice):
                return choice
        raise ValueError
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or str(value).lower() in ("none", "null", "")):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except ValueError:
                pass
        raise ValueError
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            parts = [p for p in text.split(",") if p.strip()]
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            parts = [value]
        return tuple(coerce(p, item) for p in parts)
    return _scalar(value, tp)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key of a (nested) config dataclass."""
    keys = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(valid_keys(tp, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown_key(key: str, keys: list[str], kind: str = "config key") -> ConfigError:
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    valid = f"valid keys: {', '.join(keys)}" if keys else "there are none"
    return ConfigError(f"unknown {kind} {key!r}{hint}; {valid}")


def from_dict(
    cls: type, data: Mapping[str, Any] | None, prefix: str = "", *, kind: str = "config key"
) -> Any:
    """Build the dataclass ``cls`` from a nested mapping, checking every key and type;
    ``kind`` names the keys in the error for an unknown one (``"sampling option"``)."""
    data = dict(data or {})
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise _unknown_key(f"{prefix}{key}", valid_keys(cls, prefix), kind)
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{name} must be a mapping of its own keys")
            kwargs[name] = from_dict(tp, value, f"{prefix}{name}.")
            continue
        try:
            kwargs[name] = coerce(value, tp)
        except (ValueError, TypeError):
            raise ConfigError(f"{prefix}{name}={value!r}: expected {_type_name(tp)}") from None
    return cls(**kwargs)


def to_dict(cfg: Any) -> Any:
    """A config dataclass as plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    return cfg


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["train.lr=1e-3", "model.preset=glow"]`` -> ``{"train.lr": "1e-3", ...}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override {item!r} is not of the form key=value (e.g. train.lr=1e-3)"
            )
        out[key.strip()] = value.strip()
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r} conflicts with a value set for {p!r}")
        node[last] = value
    return out


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of nested mappings, ``top`` wins."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{getattr(err, 'problem', None) or type(err).__name__}{where}"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (a mapping); one clear error if absent or malformed."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {p} is not valid YAML: {yaml_problem(err)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {p} cannot be read ({type(err).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping (data:, train:, model:)")
    return data
