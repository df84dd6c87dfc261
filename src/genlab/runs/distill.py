"""The config of a distilled student (``genlab distill TEACHER --method M``), from its
teacher run's: the teacher's data, network sizes, path and batch, ``model.teacher`` set to
the teacher's folder; the student family's own defaults for the rest. A flowmatch run
teaches either method; an unconditional diffusion run teaches consistency, on the linear
path (``genlab.diffusion.flow_teacher``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genlab.config import RunConfig, to_dict
from genlab.errors import ConfigError
from genlab.registry import unknown_name
from genlab.runs.config import make_config, parse_config
from genlab.train.run_folder import RunFolder

__all__ = ["METHODS", "distill_config"]

# method -> the student's family
METHODS = {"reflow": "flowmatch", "consistency": "consistency"}
# method -> the families of the runs it distils
TEACHERS = {"reflow": ("flowmatch",), "consistency": ("flowmatch", "diffusion")}
# the teacher's model keys a student takes over: its network and its probability path
TAKEN = ("path", "channels", "multipliers", "blocks", "attention", "dropout", "hidden", "depth")


def distill_config(
    teacher: str | Path,
    method: str,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The student's config (``make_config`` with the teacher's keys as its base)."""
    if method not in METHODS:
        raise unknown_name("distillation method", method, list(METHODS))
    folder = RunFolder(teacher)
    if not folder.has_config():
        raise ConfigError(f"{folder.path} is not a genlab run (no {folder.config_path.name})")
    saved, _meta = folder.read_config(parse_config)
    if saved.family not in TEACHERS[method]:
        raise ConfigError(
            f"genlab distill --method {method} takes a {' or '.join(TEACHERS[method])} "
            f"teacher; {folder.path} is a {saved.family} run"
        )
    sections = to_dict(saved)
    if saved.family == "diffusion" and sections["model"].get("conditional"):
        raise ConfigError(f"{folder.path} is class-conditional; distill an unconditional run")
    if not any(folder.has_weights(name) for name in ("best", "ema", "model")):
        raise ConfigError(f"{folder.path} has no trained weights yet")
    model: dict[str, Any] = {k: sections["model"][k] for k in TAKEN if k in sections["model"]}
    model["teacher"] = str(folder.path.resolve())
    base = {
        "data": sections["data"],
        "model": model,
        # a student trains about a thousand steps from the teacher's weights: an
        # evaluation EMA of a 100-step horizon, not the teacher's 1000
        "train": {"batch_size": saved.train.batch_size, "ema": 0.99},
    }
    return make_config(METHODS[method], config_file=config_file, base=base, overrides=overrides)
