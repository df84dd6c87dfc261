"""Which dataset a study runs on: what it needs of the data, and its settings per dataset.

Every study runs on the dataset ``genlab study NAME --data D`` names (``digits`` by
default). A study declares what it needs (:class:`DataNeeds`: images, labels, a number
of classes) and :func:`check_data` turns a dataset that lacks it into one error line
before anything runs. Its settings are a table keyed by dataset, then budget;
:func:`settings_for` picks the dataset's entry, or the :data:`GENERIC` one for an image
dataset without its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from genlab.data import Dataset
from genlab.errors import GenlabError

__all__ = ["DEFAULT_DATA", "GENERIC", "DataNeeds", "check_data", "data_slug", "settings_for"]

DEFAULT_DATA = "digits"
GENERIC = "*"  # the settings entry of an image dataset without its own
T = TypeVar("T")


@dataclass(frozen=True)
class DataNeeds:
    """What a study needs of its dataset; ``why`` says what for (ends the error line).

    ``images``: discrete images (C, H, W) with integer levels; ``classes``: labels with
    at least this many classes (0: labels not needed)."""

    images: bool = True
    classes: int = 0  # >= 0
    why: str = ""


def check_data(study: str, needs: DataNeeds, dataset: Dataset) -> None:
    """Raise one GenlabError naming what ``dataset`` lacks for ``study``, if anything."""
    missing = []
    if needs.images and not (dataset.meta.is_image and dataset.meta.is_discrete):
        missing.append("discrete images (C x H x W with integer levels)")
    has_labels = dataset.train.y is not None and dataset.test.y is not None
    if needs.classes and (not has_labels or (dataset.num_classes or 0) < needs.classes):
        found = f"{dataset.num_classes} classes" if has_labels else "no labels"
        missing.append(f"labels of at least {needs.classes} classes (it has {found})")
    if missing:
        why = f" ({needs.why})" if needs.why else ""
        raise GenlabError(
            f"study {study} cannot run on {dataset.name}: it needs {' and '.join(missing)}"
            f"{why}; choose another --data, e.g. digits or fashion-mnist"
        )


def settings_for(table: Mapping[str, Mapping[str, T]], data: str, budget: str) -> T:
    """``table[dataset][budget]``: the entry of ``data``'s base name (``folder:PATH`` ->
    ``folder``), else the :data:`GENERIC` one."""
    base = data.partition(":")[0]
    entry = table[base] if base in table else table[GENERIC]
    return entry[budget]


def data_slug(data: str) -> str:
    """A folder name for dataset ``data`` (``digits`` -> ``digits``, ``folder:/a/b`` ->
    ``folder-a-b``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", data).strip("-.")
    return slug or "data"
