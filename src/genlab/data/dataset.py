"""In-memory datasets: integer tensors with their metadata and fixed splits.

Every dataset of genlab is small enough to live in memory. Images are stored as
integer tensors of shape (N, C, H, W) holding values ``0 .. levels-1``; vector
data (toy 2-D sets) as float32 tensors of shape (N, D) with ``levels=None``.
Batches are gathered by index (on the training device), never by a per-item loader.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from genlab.errors import DataError

__all__ = [
    "DataMeta",
    "Dataset",
    "LoadOptions",
    "Located",
    "SYSTEM_DATA",
    "Split",
    "data_root",
    "data_roots",
    "find_files",
    "label_subset",
    "read_bytes",
]


@dataclass(frozen=True)
class DataMeta:
    """What a model needs to know about its data, and nothing else.

    Saved in every run's config so a model can be rebuilt without the data.
    """

    name: str
    shape: tuple[int, ...]
    levels: int | None
    num_classes: int | None

    @property
    def dims(self) -> int:
        """Number of scalar dimensions per example (C*H*W or D)."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @property
    def is_discrete(self) -> bool:
        return self.levels is not None


@dataclass(frozen=True)
class Split:
    """One split: ``x`` (N, *shape) and optional integer labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        assert self.y is None or len(self.y) == len(self.x), (len(self.x), len(self.y))

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: torch.Tensor) -> Split:
        """The examples at ``index`` (a 1-D long tensor), labels included."""
        return Split(self.x[index], None if self.y is None else self.y[index])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), None if self.y is None else self.y.to(device))

    def holdout(
        self, fraction: float, seed: int, max_count: int | None = None
    ) -> tuple[Split, Split]:
        """Seeded random split into (rest, held-out part) with ``fraction`` held out, at
        most ``max_count`` examples (the rest stay in the first part)."""
        if not 0.0 <= fraction < 1.0:
            raise DataError(f"held-out fraction must be in [0, 1), got {fraction}")
        n_out = int(round(fraction * len(self)))
        n_out = n_out if max_count is None else min(n_out, max_count)
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self.take(perm[n_out:].sort().values), self.take(perm[:n_out].sort().values)


@dataclass(frozen=True)
class Dataset:
    """A dataset: metadata plus its fixed ``train`` and ``test`` splits."""

    meta: DataMeta
    train: Split
    test: Split
    root: str | None = None  # absolute folder its files were found under (None: embedded)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.meta.shape

    @property
    def levels(self) -> int | None:
        return self.meta.levels

    @property
    def num_classes(self) -> int | None:
        return self.meta.num_classes

    def restrict_classes(self, classes: tuple[int, ...]) -> Dataset:
        """Keep only the examples whose label is in ``classes`` (labels unchanged)."""
        if self.train.y is None:
            raise DataError(f"dataset {self.name!r} has no labels, so data.classes cannot apply")
        bad = [c for c in classes if not 0 <= c < (self.num_classes or 0)]
        if bad:
            raise DataError(
                f"data.classes {bad} out of range for {self.name!r} "
                f"(classes 0..{(self.num_classes or 1) - 1})"
            )
        wanted = torch.tensor(sorted(set(classes)))

        def keep(split: Split) -> Split:
            assert split.y is not None
            return split.take(torch.isin(split.y, wanted).nonzero().squeeze(1))

        return replace(self, train=keep(self.train), test=keep(self.test))


@dataclass(frozen=True)
class LoadOptions:
    """Options every loader receives; each uses the ones that apply to it."""

    data_dir: str | None = None  # folder holding the dataset folders; GENLAB_DATA, then ./data
    seed: int = 0  # toy2d sampling, folder split
    image_size: int | None = None  # folder: resize to this square size
    toy_samples: int = 20000  # toy2d: training points (test gets a quarter as many)
    test_fraction: float = 0.1  # folder: share of images in the test split


SYSTEM_DATA = "/usr/share/datasets"  # where Debian's dataset-* packages install


def data_root(opts: LoadOptions) -> Path:
    """Where new data goes (``genlab fetch``): ``--data-dir``, else ``$GENLAB_DATA``,
    else ``./data``, as an absolute path."""
    return Path(opts.data_dir or os.environ.get("GENLAB_DATA") or "data").expanduser().absolute()


_SEARCH_FIRST: list[str | None] = [None]  # this process's --data-dir (see use_data_dir)


def use_data_dir(path: str | None) -> None:
    """Search ``path`` first in this process wherever no ``data_dir`` is given: the
    ``--data-dir`` of commands that load data in many places (``genlab study``,
    ``genlab report`` and the runs they train); None undoes it."""
    _SEARCH_FIRST[0] = path


def data_roots(opts: LoadOptions) -> list[Path]:
    """The folders searched for dataset folders, in order, absolute and without repeats:
    ``--data-dir`` (the options', else the process's: :func:`use_data_dir`),
    ``$GENLAB_DATA``, ``./data``, then the system folder ``$GENLAB_SYSTEM_DATA`` (default
    ``/usr/share/datasets``; empty to skip it)."""
    given = [
        opts.data_dir or _SEARCH_FIRST[0],
        os.environ.get("GENLAB_DATA"),
        "data",
        os.environ.get("GENLAB_SYSTEM_DATA", SYSTEM_DATA),
    ]
    roots: list[Path] = []
    for cand in given:
        path = Path(cand).expanduser().absolute() if cand else None
        if path is not None and path not in roots:
            roots.append(path)
    return roots


@dataclass(frozen=True)
class Located:
    """Where a dataset's files were found: the searched ``root``, the dataset's own
    ``folder`` under it, and each expected name's path (raw or ``.gz``)."""

    root: Path
    folder: Path
    files: dict[str, Path]


def _present(folder: Path, names: list[str]) -> dict[str, Path]:
    found = {}
    for name in names:
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.is_file():
                found[name] = cand
                break
    return found


def find_files(
    dataset: str, opts: LoadOptions, subfolders: list[str], names: list[str], hint: str
) -> Located:
    """The first ``root / sub`` (roots of :func:`data_roots`, in order) holding every file
    of ``names`` (each raw or ``.gz``).

    Raises one DataError: when some folder holds part of the set, it names that folder
    and exactly the files missing there; otherwise every folder it looked in.
    """
    best: tuple[Path, dict[str, Path]] | None = None
    looked = []
    for root in data_roots(opts):
        for sub in subfolders:
            folder = root / sub if sub else root
            looked.append(folder)
            found = _present(folder, names)
            if len(found) == len(names):
                return Located(root, folder, found)
            if found and (best is None or len(found) > len(best[1])):
                best = (folder, found)
    fix = f"{hint}, or run `genlab fetch {dataset}`" if hint else f"run `genlab fetch {dataset}`"
    if best is not None:
        folder, found = best
        missing = [n for n in names if n not in found]
        raise DataError(
            f"{dataset} incomplete in {folder}: missing {', '.join(missing)} (raw or .gz) "
            f"({len(found)} of {len(names)} present); {fix}"
        )
    raise DataError(
        f"{dataset} not found: no folder holds {', '.join(names)} (raw or .gz); looked in "
        f"{', '.join(str(f) for f in looked)}; {fix} "
        "(or set --data-dir or GENLAB_DATA to the folder that holds it)"
    )


def read_bytes(path: Path) -> bytes:
    """The contents of ``path``, gunzipped when it starts with the gzip magic bytes."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a valid gzip file ({err}); re-download it") from err


def label_subset(labels: torch.Tensor, fraction: float, *, seed: int) -> torch.Tensor:
    """Sorted long indices into labels (N,) keeping ``fraction`` of every class.

    Each class keeps ``round(fraction * count)`` items (half rounds up), at least
    one; fraction 1 keeps all. The subset is a prefix of a per-class permutation
    drawn from ``seed``, so for one seed smaller fractions are nested in larger ones.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    labels = labels.cpu()
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in labels.unique():  # sorted, so the draws are reproducible
        members = (labels == cls).nonzero().squeeze(1)
        keep = max(1, math.floor(fraction * len(members) + 0.5))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:keep]])
    return torch.cat(chosen).sort().values
