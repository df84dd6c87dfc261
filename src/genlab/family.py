"""A model family: its name, its config dataclass and how to build it.

Each family module defines one :class:`Family` object and is listed by name in
``genlab.registry.FAMILIES``; the CLI, the trainer and ``genlab.load`` work with
any family through this record alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from genlab.data.dataset import DataMeta
from genlab.registry import FAMILIES, resolve, unknown_name

__all__ = ["Family", "get_family"]


@dataclass(frozen=True)
class Family:
    """``build(config, meta)`` returns the model; ``defaults`` are dotted overrides
    (``{"train.lr": 0.05}``) applied before the user's own, so each family trains
    well with no options given."""

    name: str
    config: type
    build: Callable[[Any, DataMeta], torch.nn.Module]
    kind: Literal["generative", "representation"] = "generative"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def get_family(name: str) -> Family:
    """The registered family ``name``; one clear error for an unknown name."""
    if name not in FAMILIES:
        raise unknown_name("family", name, list(FAMILIES))
    fam = resolve(FAMILIES[name])
    assert isinstance(fam, Family) and fam.name == name, (name, fam)
    return fam
