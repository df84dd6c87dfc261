"""The data layer: in-memory datasets by name, with their metadata and splits.

>>> ds = load_dataset("digits")
>>> ds.shape, ds.levels, len(ds.train), len(ds.test)
((1, 8, 8), 17, 1437, 360)
"""

from __future__ import annotations

from genlab.data.dataset import (
    DataMeta,
    Dataset,
    LoadOptions,
    Split,
    data_root,
    data_roots,
    use_data_dir,
)
from genlab.errors import DataError
from genlab.registry import DATASETS, resolve, unknown_name

__all__ = [
    "DataMeta",
    "Dataset",
    "LoadOptions",
    "Split",
    "data_root",
    "data_roots",
    "use_data_dir",
    "dataset_available",
    "load_dataset",
    "split_name",
]


def split_name(name: str) -> tuple[str, str | None]:
    """``"toy2d:moons"`` -> ``("toy2d", "moons")``; checks the base name is known."""
    base, sep, arg = name.partition(":")
    if base not in DATASETS:
        raise DataError(str(unknown_name("dataset", base, list(DATASETS))))
    entry = DATASETS[base]
    if entry.takes_arg and not arg:
        raise DataError(f"dataset {base!r} needs an argument: {entry.note}")
    if not entry.takes_arg and sep:
        raise DataError(f"dataset {base!r} takes no ':' argument (got {name!r})")
    return base, (arg or None)


def load_dataset(name: str, opts: LoadOptions | None = None) -> Dataset:
    """Load a dataset by name (``digits``, ``toy2d:moons``, ``mnist``, ``folder:PATH``...)."""
    base, arg = split_name(name)
    return resolve(DATASETS[base].loader)(arg, opts or LoadOptions())


def dataset_available(base: str, opts: LoadOptions | None = None) -> tuple[bool, str]:
    """Whether a dataset's files are present: ``(True, absolute folder)`` (``""`` for
    embedded and generated data) or ``(False, reason)`` naming what is missing where."""
    entry = DATASETS[base]
    if entry.probe is None:
        return True, ""
    try:
        folder = resolve(entry.probe)(opts or LoadOptions())
    except DataError as err:
        return False, str(err)
    return True, str(folder)
