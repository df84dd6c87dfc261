"""Warm start (``model.init=RUN``), part of the run layer: before the first training step
of a new run, the shared encoder of a trained representation run is copied into a model
that declares :class:`~genlab.nn.encoder.WarmStartable` (the classifier family).

Families never load runs themselves (a family imports no run layer); the run layer
hands the encoder over. Loading the source run draws no random numbers that training
sees: the global generator is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from genlab.errors import ConfigError
from genlab.nn.encoder import HasEncoder, WarmStartable

__all__ = ["warm_start"]

# run folder -> (its trained model, its family's name), on the CPU: genlab.runs.loading
LoadModel = Callable[[str], tuple[nn.Module, str]]


def warm_start(model: nn.Module, load: LoadModel) -> None:
    """Copy the encoder of the run that ``model.init_run`` names into ``model``; nothing
    when ``model`` takes no warm start or names no run. One ConfigError when the run is
    missing, has no shared encoder, or its encoder does not fit."""
    if not isinstance(model, WarmStartable) or not model.init_run:
        return
    init = model.init_run
    if not Path(init).is_dir():
        raise ConfigError(f"model.init={init}: no such run folder")
    with torch.random.fork_rng(devices=[]):
        source, family = load(init)
    if not isinstance(source, HasEncoder):
        raise ConfigError(
            f"model.init={init}: a {family} run has no shared encoder; "
            "use a simclr, rotation, masked or triplet run"
        )
    model.warm_start(source.encoder)
