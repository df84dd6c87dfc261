"""Distillation's teacher, part of the run layer: before a student trains (``genlab distill``,
or ``genlab train`` with ``model.teacher=RUN``), the teacher run is loaded and handed to a
model that declares :class:`~genlab.protocols.Distilled`. Families never load runs
themselves. Loading draws no random numbers that training sees.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from genlab.errors import ConfigError
from genlab.family import Family
from genlab.protocols import Distilled, SeenAsFlow

__all__ = ["attach_teacher"]

# run folder -> (its trained model on the CPU, its family's name): genlab.runs.loading
LoadModel = Callable[[str], tuple[nn.Module, str]]


def attach_teacher(model: nn.Module, load: LoadModel, family: Family, *, resume: bool) -> None:
    """Hand the teacher run that ``model.teacher_run`` names to ``model``; a new run
    (``resume`` False) starts from the teacher's weights. Nothing for a model that names
    no teacher and needs none; one ConfigError when a family that is only distilled
    (``Family.teacher``) names none, or the run is missing, of another family or does not
    fit."""
    run = model.teacher_run if isinstance(model, Distilled) else ""
    if not run:
        if family.teacher:
            raise ConfigError(
                f"the {family.name} family is distilled from a {' or '.join(family.teacher)} "
                f"run: "
                f"genlab distill RUN --method {family.name} (or model.teacher=RUN)"
            )
        return
    if not Path(run).is_dir():
        raise ConfigError(f"model.teacher={run}: no such run folder")
    with torch.random.fork_rng(devices=[]):
        teacher, teacher_family = load(run)
    wanted = family.teacher or (family.name,)
    if teacher_family not in wanted:
        raise ConfigError(
            f"model.teacher={run}: a {family.name} student needs a {' or '.join(wanted)} "
            f"teacher, not a {teacher_family} run"
        )
    if isinstance(teacher, SeenAsFlow):  # a diffusion teacher, on the linear path
        teacher = teacher.linear_flow()
    assert isinstance(model, Distilled)
    model.attach_teacher(teacher, initialise=not resume)
