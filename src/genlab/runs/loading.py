"""Loading a run: the model a run folder describes, with neither trainer nor data.

Reading a run never writes: a checkpoint commit cut by a kill is read where its files
are (see :mod:`genlab.train.run_folder`), so a read-only run loads like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from genlab.config import RunConfig, from_dict, nest, to_dict
from genlab.data.dataset import DataMeta
from genlab.errors import CheckpointError, GenlabError
from genlab.family import get_family
from genlab.runs.config import parse_config
from genlab.train.checkpoint import fit_problem
from genlab.train.run_folder import RunFolder, Weights
from genlab.train.seeding import seed_everything

__all__ = ["LoadedRun", "Weights", "build_model", "load", "load_run", "trained_model"]


@dataclass(frozen=True)
class LoadedRun:
    config: RunConfig
    meta: DataMeta
    model: nn.Module
    weights: str  # which weights were loaded: best, ema or model


def build_model(cfg: RunConfig, meta: DataMeta) -> nn.Module:
    """The family's model for this data, initialised from ``train.seed``."""
    seed_everything(cfg.train.seed)
    return get_family(cfg.family).build(cfg.model, meta)


def load_run(
    run: str | Path,
    *,
    weights: Weights = "auto",
    device: str | torch.device = "cpu",
    evaluation: Mapping[str, str] | None = None,
) -> LoadedRun:
    """Rebuild a run's model from its folder, in eval mode; nothing in the folder changes.

    ``weights="auto"`` takes the validation-selected weights (best) when the run kept
    them, else the EMA weights, else the raw ones. ``evaluation`` overrides the model's
    evaluation keys, ``model.nll_*`` (importance samples, dequantization draws,
    timesteps of the bound: how ``nll`` is estimated, never what was trained), e.g.
    ``{"model.nll_draws": "8"}``; any other key is an error.
    """
    folder = RunFolder(run)
    cfg, meta = folder.read_config(parse_config)
    if evaluation:
        cfg = _with_evaluation_keys(cfg, evaluation)
    model = get_family(cfg.family).build(cfg.model, meta)
    name = folder.choose_weights(weights)
    try:
        model.load_state_dict(folder.read_weights(name))
    except RuntimeError as err:
        raise CheckpointError(
            f"{folder.weights_path(name)} does not fit the model in "
            f"{folder.config_path.name} ({fit_problem(err)}); restore it or retrain the run"
        ) from None
    return LoadedRun(cfg, meta, model.to(device).eval(), name)


def _with_evaluation_keys(cfg: RunConfig, keys: Mapping[str, str]) -> RunConfig:
    """``cfg`` with ``model.nll_*`` keys replaced (typed and range-checked as in training)."""
    wrong = [k for k in keys if not k.startswith("model.nll_")]
    if wrong:
        raise GenlabError(
            f"{', '.join(wrong)}: only the model's evaluation keys (model.nll_*) can change "
            "after training"
        )
    merged = {**to_dict(cfg.model), **nest(keys).get("model", {})}
    model = from_dict(type(cfg.model), merged, "model.")
    return replace(cfg, model=model)


def trained_model(run: str) -> tuple[nn.Module, str]:
    """(model, family name) of a trained run, on the CPU: what a warm start copies from."""
    loaded = load_run(run, device="cpu")
    return loaded.model, loaded.config.family


def load(
    run: str | Path, *, weights: Weights = "auto", device: str | torch.device = "cpu"
) -> nn.Module:
    """``genlab.load(run_dir)``: the trained model, ready to sample and score."""
    return load_run(run, weights=weights, device=device).model
