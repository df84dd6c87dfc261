"""A model family: its name, its config dataclass, how to build it and what it can do.

Each family module defines one :class:`Family` object and is listed by name in
``genlab.registry.FAMILIES``; the CLI, the trainer and ``genlab.load`` work with
any family through this record alone. What a family can do is declared here (its
sampling options, its pictures) or by a Protocol of ``genlab.protocols``, never
discovered by probing a model's attributes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from genlab.config import from_dict
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.registry import FAMILIES, resolve, unknown_name

__all__ = [
    "SMALL_DATA",
    "Family",
    "NoSamplingOptions",
    "Overrides",
    "Pictures",
    "by_size",
    "get_family",
    "sampling_kwargs",
]


Overrides = Mapping[str, Any]  # dotted keys -> values: {"train.lr": 0.05}

# (model, test images in data space (N, ...), the data's meta, folder) -> PNGs written
Pictures = Callable[[torch.nn.Module, torch.Tensor, DataMeta, Path], list[Path]]


@dataclass(frozen=True)
class NoSamplingOptions:
    """The sampling options of a family whose ``sample`` takes none (pixelwise)."""


# below this many training examples a model of the default size overfits within a run
# (digits, 1437 images: the best validation bits/dim comes early, a flow's best_step in
# benchmarks/results/flow_quality_digits.json, and a VAE without dropout climbs far above
# its best by the end, benchmarks/results/vae_quality_digits.json); above it,
# regularisation only slows training down
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

    What it can do beyond training:

    - ``sampling``: the frozen dataclass of its sampling options (``genlab sample RUN
      steps=50``), every field a keyword of the model's ``sample`` with the same default;
      None for a family that does not generate (representation models);
    - ``pictures``: writes the family's own pictures (``genlab sample --pictures``), or None;
    - ``likelihood``: False for a generative family with no density (consistency students):
      ``genlab eval`` leaves bpd out of its default metrics;
    - ``teacher``: the families a model of this one is distilled from (``consistency``:
      ``flowmatch`` and ``diffusion``); such a model trains only with ``model.teacher=RUN``.
    """

    name: str
    config: type
    build: Callable[[Any, DataMeta], torch.nn.Module]
    kind: Literal["generative", "representation"] = "generative"
    defaults: Overrides = field(default_factory=dict)
    data_defaults: Callable[[DataMeta, int], Overrides] | None = None
    presets: Mapping[str, Overrides] = field(default_factory=dict)
    description: str = ""
    sampling: type | None = None
    pictures: Pictures | None = None
    likelihood: bool = True  # a generative family whose ``nll`` scores data (bpd)
    teacher: tuple[str, ...] = ()  # the families its models are distilled from (they need one)

    def __post_init__(self) -> None:
        assert (self.sampling is not None) == (self.kind == "generative"), (
            self.name,
            self.kind,
            self.sampling,
        )

    def sampling_options(self, given: Mapping[str, Any] | None = None) -> Any:
        """The family's sampling-options dataclass from ``{"steps": "50", ...}`` (strings
        or typed values), by the typed override code of training: an unknown key is one
        ConfigError with the closest key and the valid ones, a wrong type or a value out
        of range names its key."""
        if self.sampling is None:
            raise ConfigError(f"family {self.name!r} does not generate samples")
        return from_dict(self.sampling, given, kind=f"{self.name} sampling option")


def sampling_kwargs(options: Any) -> dict[str, Any]:
    """A sampling-options dataclass as the keyword arguments of the model's ``sample``."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


def get_family(name: str) -> Family:
    """The registered family ``name``; one clear error for an unknown name."""
    if name not in FAMILIES:
        raise unknown_name("family", name, list(FAMILIES))
    fam = resolve(FAMILIES[name])
    assert isinstance(fam, Family) and fam.name == name, (name, fam)
    return fam
