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

__all__ = ["SMALL_DATA", "Family", "Overrides", "by_size", "get_family"]


Overrides = Mapping[str, Any]  # dotted keys -> values: {"train.lr": 0.05}


# below this many training examples a model of the default size overfits within a run
# (digits: 1437 images, the best test bits/dim of a flow early, then climbing); above
# it, regularisation only slows training down
SMALL_DATA = 10_000


def by_size(n_train: int, small: Overrides, large: Overrides) -> Overrides:
    """``small`` for a training split below :data:`SMALL_DATA` examples, else ``large``."""
    return small if n_train < SMALL_DATA else large


@dataclass(frozen=True)
class Family:
    """``build(config, meta)`` returns the model. Three layers of dotted overrides come
    before the user's own, so each family trains well with no options given:

    - ``defaults``: generic, for any data;
    - ``data_defaults(meta, n_train)``: chosen by the data's shape and size (an image
      of 28x28 gets another architecture than 8x8; 60,000 images need no dropout);
    - ``presets[dataset]``: what was tuned on one dataset (``"digits"``), applied when
      that dataset is trained on and never elsewhere.
    """

    name: str
    config: type
    build: Callable[[Any, DataMeta], torch.nn.Module]
    kind: Literal["generative", "representation"] = "generative"
    defaults: Overrides = field(default_factory=dict)
    data_defaults: Callable[[DataMeta, int], Overrides] | None = None
    presets: Mapping[str, Overrides] = field(default_factory=dict)
    description: str = ""


def get_family(name: str) -> Family:
    """The registered family ``name``; one clear error for an unknown name."""
    if name not in FAMILIES:
        raise unknown_name("family", name, list(FAMILIES))
    fam = resolve(FAMILIES[name])
    assert isinstance(fam, Family) and fam.name == name, (name, fam)
    return fam
