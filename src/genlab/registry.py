"""Explicit name -> constructor tables: datasets, families, samplers, metrics, studies.

Entries are ``"module:attribute"`` strings resolved on first use, so importing
genlab imports no family, and a new family plugs in by adding one line here,
never by touching the CLI.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

from genlab.errors import GenlabError

__all__ = ["DATASETS", "FAMILIES", "STUDIES", "DatasetEntry", "resolve", "unknown_name"]


@dataclass(frozen=True)
class DatasetEntry:
    """How to load one dataset family and what it looks like."""

    loader: str  # "module:function", called as fn(arg, LoadOptions) -> Dataset
    shape: str
    levels: str
    classes: str
    probe: str | None = None  # "module:function", fn(LoadOptions) -> folder, or DataError
    takes_arg: bool = False  # name:ARG (toy2d:moons, folder:PATH)
    note: str = ""
    # "module:attribute" of the AugmentConfig its images are augmented with in training
    # (genlab.data.augment.default_augment); None for vectors, which are never augmented
    augment: str | None = None


DATASETS: dict[str, DatasetEntry] = {
    "digits": DatasetEntry(
        "genlab.data.digits:load_digits",
        "1x8x8",
        "17",
        "10",
        note="embedded (scikit-learn)",
        augment="genlab.data.augment:DIGITS",
    ),
    "toy2d": DatasetEntry(
        "genlab.data.toy2d:load_toy2d",
        "2",
        "-",
        "-",
        takes_arg=True,
        note="toy2d:moons|circles|8gaussians|checkerboard|pinwheel|2spirals",
    ),
    "mnist": DatasetEntry(
        "genlab.data.idx:load_mnist",
        "1x28x28",
        "256",
        "10",
        probe="genlab.data.idx:probe_mnist",
        augment="genlab.data.augment:HANDWRITING",
    ),
    "fashion-mnist": DatasetEntry(
        "genlab.data.idx:load_fashion_mnist",
        "1x28x28",
        "256",
        "10",
        probe="genlab.data.idx:probe_fashion_mnist",
        augment="genlab.data.augment:CLOTHES",
    ),
    "cifar10": DatasetEntry(
        "genlab.data.cifar:load_cifar10",
        "3x32x32",
        "256",
        "10",
        probe="genlab.data.cifar:probe",
        augment="genlab.data.augment:CIFAR10",
    ),
    "folder": DatasetEntry(
        "genlab.data.folder:load_folder",
        "CxHxW",
        "256",
        "subfolders",
        takes_arg=True,
        note="folder:PATH of PNG/JPEG images",
        augment="genlab.data.augment:HANDWRITING",  # no policy of its own yet
    ),
}

# family name -> "module:attribute" of a genlab.family.Family
FAMILIES: dict[str, str] = {
    "pixelwise": "genlab.pixelwise:FAMILY",
    "flow": "genlab.flows:FAMILY",
    "diffusion": "genlab.diffusion:FAMILY",
    "flowmatch": "genlab.flowmatch:FAMILY",
    "consistency": "genlab.consistency:FAMILY",
    "vae": "genlab.vae:FAMILY",
    "simclr": "genlab.ssl:SIMCLR_FAMILY",
    "rotation": "genlab.ssl:ROTATION_FAMILY",
    "masked": "genlab.ssl:MASKED_FAMILY",
    "triplet": "genlab.metric:TRIPLET_FAMILY",
    "classifier": "genlab.ssl.finetune:FAMILY",
}

# study name -> "module:attribute" of a genlab.studies.Study
STUDIES: dict[str, str] = {
    "coupling": "genlab.studies.coupling:STUDY",
    "dequantization": "genlab.studies.dequantization:STUDY",
    "reverse_steps": "genlab.studies.reverse_steps:STUDY",
    "vae_vs_diffusion": "genlab.studies.vae_vs_diffusion:STUDY",
    "self_supervised": "genlab.studies.self_supervised:STUDY",
    "contrastive": "genlab.studies.contrastive:STUDY",
}


def resolve(target: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def unknown_name(kind: str, name: str, known: list[str]) -> GenlabError:
    """One-line error for an unknown name, suggesting the closest known one."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return GenlabError(f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(known))}")
