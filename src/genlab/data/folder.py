"""A folder of PNG/JPEG images as a dataset: ``folder:PATH``.

If ``PATH`` has subfolders, their sorted names are the classes and every image
below one is labelled with its index; otherwise the images directly in ``PATH``
are unlabelled. Images are grey (C=1) when every one is mode ``L`` or ``1``,
RGB (C=3) otherwise, resized to ``opts.image_size`` squares when it is set. The
train/test split is a permutation seeded by ``opts.seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data.dataset import DataMeta, Dataset, LoadOptions, Split, data_roots
from genlab.errors import DataError

__all__ = ["EXTENSIONS", "list_images", "load_folder", "split_indices"]

EXTENSIONS = (".png", ".jpg", ".jpeg")
_GREY_MODES = ("L", "1")
_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _images_below(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _resolve(arg: str | None, opts: LoadOptions) -> tuple[Path, Path]:
    """(the image folder, the absolute folder its relative path was found under): the
    current folder first, then each data root (so a run re-finds it from any shell)."""
    if not arg:
        raise DataError("dataset 'folder' needs a path: folder:PATH")
    path = Path(arg).expanduser()
    if path.is_absolute():
        bases = [path.parent]
        path = Path(path.name)
    else:
        bases = [Path.cwd(), *data_roots(opts)]
        if opts.data_dir:  # a run's recorded folder comes before the current one
            bases.insert(0, Path(opts.data_dir).expanduser().absolute())
    for base in bases:
        if (base / path).is_dir():
            return base / path, base.absolute()
    raise DataError(f"image folder {arg!r} not found; give folder:PATH of PNG/JPEG images")


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """Image paths, their labels (None without subfolders) and the sorted class names."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        files = _images_below(root, recursive=False)
        if not files:
            raise DataError(f"no PNG/JPEG images in {root}; add .png/.jpg/.jpeg files")
        return files, None, []
    files, labels = [], []
    for k, name in enumerate(classes):
        found = _images_below(root / name, recursive=True)
        if not found:
            raise DataError(f"class folder {root / name} has no PNG/JPEG images; add some")
        files += found
        labels += [k] * len(found)
    return files, labels, classes


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """(mode, (width, height)) without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.mode, im.size
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path} ({err}); remove or replace it") from err


def _pixels(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Decoded image as uint8 (H, W) for mode L or (H, W, 3) for RGB."""
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if im.size != size:
                im = im.resize(size, Image.Resampling.LANCZOS)
            return np.asarray(im, dtype=np.uint8)
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path} ({err}); remove or replace it") from err


def _common_size(
    files: list[Path], sizes: list[tuple[int, int]], image_size: int | None
) -> tuple[int, int]:
    """The (width, height) every image gets: image_size squared, else their one shared size."""
    if image_size is not None:
        if image_size < 1:
            raise DataError(f"data.image_size must be a positive integer, got {image_size}")
        return image_size, image_size
    for path, size in zip(files, sizes, strict=True):
        if size != sizes[0]:
            raise DataError(
                f"images differ in size ({files[0].name} is {sizes[0][0]}x{sizes[0][1]}, "
                f"{path.name} is {size[0]}x{size[1]}); set data.image_size to resize them"
            )
    return sizes[0]


def split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (train, test) index split, sorted, with at least one of each when n >= 2."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"data.test_fraction must be in [0, 1), got {fraction}")
    n_test = min(max(round(fraction * n), 1), n - 1) if n >= 2 else 0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def load_folder(arg: str | None, opts: LoadOptions) -> Dataset:
    """``folder:PATH`` -> uint8 (N, C, H, W) images in 0..255, int64 labels if subfolders."""
    root, base = _resolve(arg, opts)
    files, labels, classes = list_images(root)
    headers = [_header(p) for p in files]
    mode = "L" if all(m in _GREY_MODES for m, _ in headers) else "RGB"
    size = _common_size(files, [s for _, s in headers], opts.image_size)
    arr = np.stack([_pixels(p, mode, size) for p in files])  # (N, H, W) or (N, H, W, 3)
    x = torch.from_numpy(arr)
    x = x.unsqueeze(1) if mode == "L" else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    y = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    data = Split(x.contiguous(), y)
    train, test = split_indices(len(files), opts.test_fraction, opts.seed)
    meta = DataMeta(
        name=f"folder:{arg}",
        shape=tuple(x.shape[1:]),
        levels=256,
        num_classes=len(classes) if labels is not None else None,
    )
    return Dataset(meta, data.take(train), data.take(test), root=str(base))
