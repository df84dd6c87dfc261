"""Typed run configuration: frozen dataclasses, YAML files and dotted overrides.

A run is described by :class:`RunConfig`: ``family``, ``data`` (:class:`DataConfig`),
``train`` (:class:`TrainConfig`) and ``model`` (the family's own frozen dataclass).
Values are layered, later wins: dataclass defaults < the family's defaults <
``--config FILE`` (YAML) < ``key=value`` overrides < explicit CLI flags. Every value
is checked against its field type and against the range written next to the field
(:func:`ranged`; a ``Literal``'s choices); an unknown key is one error that suggests the
closest key and lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
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
    "literal_choices",
    "load_yaml",
    "parse_overrides",
    "ranged",
    "to_dict",
    "yaml_problem",
]


def ranged(default: Any, valid: Callable[[Any], bool], what: str) -> Any:
    """A dataclass field whose valid range is written next to it: ``steps: int | None =
    ranged(None, lambda v: v >= 1, "at least 1")``; :func:`check_fields` checks it (a
    None value, meaning "the model's own default", is always valid). A ``Literal`` field
    needs none: its choices are its range."""
    return field(default=default, metadata={"range": (valid, what)})


def check_fields(cfg: Any, prefix: str = "") -> None:
    """One ConfigError for the first field of ``cfg`` out of its range: the one stated
    next to it by :func:`ranged`, or the choices of its ``Literal`` type. The dataclass's
    ``__post_init__`` calls it with its section (``"model."``), so a config built by
    :func:`from_dict` or in Python is checked here, and only here."""
    literals = _literal_fields(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        rule = f.metadata.get("range")
        choices = literals.get(f.name)
        if rule is None and choices:
            rule = (lambda v, c=choices: v in c, "one of " + "|".join(map(str, choices)))
        if rule is not None and value is not None and not rule[0](value):
            raise ConfigError(f"{prefix}{f.name}={value!r} is out of range: it must be {rule[1]}")


@functools.cache
def _literal_fields(cls: type) -> dict[str, tuple[Any, ...]]:
    """Field name -> choices, for the ``Literal`` fields of ``cls`` (read once per class)."""
    found = {name: literal_choices(tp) for name, tp in _hints(cls).items()}
    return {name: choices for name, choices in found.items() if choices}


def literal_choices(tp: Any) -> tuple[Any, ...]:
    """The choices of a ``Literal[...]`` type (or ``Literal[...] | None``); () for others."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return literal_choices(members[0])
    return ()


@dataclass(frozen=True)
class DataConfig:
    """Which data to train on, and how to load it."""

    name: str = "digits"
    data_dir: str | None = None  # folder holding dataset folders (else $GENLAB_DATA, ./data)
    # keep only these classes (train and eval); the upper bound is the dataset's
    classes: tuple[int, ...] | None = ranged(
        None, lambda v: all(c >= 0 for c in v), "class indices, each at least 0"
    )
    # keep this class-balanced share of train (seeded by seed)
    label_fraction: float = ranged(1.0, lambda v: 0 < v <= 1, "in (0, 1]")
    seed: int = 0  # toy2d sampling, folder split, label_fraction subset
    image_size: int | None = ranged(None, lambda v: v >= 1, "at least 1")  # folder:PATH resize
    toy_samples: int = ranged(20000, lambda v: v >= 1, "at least 1")  # toy2d training points
    test_fraction: float = ranged(0.1, lambda v: 0 < v < 1, "in (0, 1)")  # folder:PATH test share

    def __post_init__(self) -> None:
        check_fields(self, "data.")


@dataclass(frozen=True)
class TrainConfig:
    """The one training loop's options (see genlab.train.Trainer)."""

    steps: int = ranged(2000, lambda v: v >= 1, "at least 1")
    # a time budget: > 0 sets steps from a short probe (train/budget.py), written down
    minutes: float = ranged(0.0, lambda v: v >= 0, "at least 0 (0: train.steps decides)")
    batch_size: int = ranged(128, lambda v: v >= 1, "at least 1")  # global, split across ranks
    lr: float = ranged(1e-3, lambda v: v > 0, "positive")
    # cosine decays to lr * min_lr_ratio
    min_lr_ratio: float = ranged(0.0, lambda v: 0 <= v <= 1, "in [0, 1]")
    # linear warm-up steps (at most a tenth of the run: see warmup_steps)
    warmup: int = ranged(100, lambda v: v >= 0, "at least 0")
    weight_decay: float = ranged(0.0, lambda v: v >= 0, "at least 0")  # AdamW, decoupled
    beta1: float = ranged(0.9, lambda v: 0 <= v < 1, "in [0, 1)")
    beta2: float = ranged(0.999, lambda v: 0 <= v < 1, "in [0, 1)")
    # max global grad norm
    grad_clip: float = ranged(1.0, lambda v: v >= 0, "at least 0 (0 disables clipping)")
    ema: float = ranged(0.999, lambda v: 0 <= v < 1, "in [0, 1) (0 disables the EMA)")
    bf16: bool = False  # bf16 autocast for the forward pass
    compile: bool = False  # torch.compile the loss
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # CPU threads of torch; 0: one per physical core (the run records it)
    threads: int = ranged(0, lambda v: v >= 0, "at least 0 (0: one per physical core)")
    # share of train held out for validation / selection
    val_fraction: float = ranged(0.1, lambda v: 0 <= v < 1, "in [0, 1)")
    # ... but at most this many images: a fixed cost on any data size
    val_max: int = ranged(1000, lambda v: v >= 1, "at least 1")
    select: Literal["best", "last"] = "best"  # keep the best validation weights, or the last
    eval_every: int = ranged(250, lambda v: v >= 1, "at least 1")
    log_every: int = ranged(25, lambda v: v >= 1, "at least 1")
    # sample grid every N steps (and at the end)
    sample_every: int = ranged(1000, lambda v: v >= 0, "at least 0 (0 disables sample grids)")
    ckpt_every: int = ranged(500, lambda v: v >= 1, "at least 1")
    # also checkpoint when this much wall time has passed
    ckpt_minutes: float = ranged(10.0, lambda v: v >= 0, "at least 0 (0: checkpoint by steps only)")
    grid_size: int = ranged(64, lambda v: v >= 1, "at least 1")  # images in each sample grid
    progress: bool = True  # progress bar on stderr
    find_unused_parameters: bool = False  # DDP option for models with unused branches

    def __post_init__(self) -> None:
        check_fields(self, "train.")


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
