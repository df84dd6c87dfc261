"""The feature network behind FD, KID and precision/recall.

No Inception network is available offline, so each image dataset gets its own
small CNN classifier, trained deterministically (fixed seed, CPU, one thread,
±1 pixel random shifts, label smoothing) on its train split only, for a number
of steps set by the split's size and image shape (:func:`train_steps`). Its
penultimate activations (128 features) are the feature space, in the spirit of
Heusel et al. 2017 (FID with Inception pool3).

For digits and Fashion-MNIST the weights ship with genlab (:mod:`genlab.metrics.shipped`,
SHA-256 checked at load): a float reduction's order differs between CPUs and library
builds, so "deterministic" training still gives slightly different weights on another
machine, and FDs would not compare between users. Any other dataset (or recipe) trains
its own network locally, and its name says so (``local-...`` against ``shipped-...``).
Local weights are cached with safetensors under
``<cache>/features/<dataset>-<fingerprint>.safetensors``; the fingerprint hashes the
train images, labels, :data:`ARCH_VERSION` and the training recipe, so a changed
dataset or architecture never reuses stale weights. The test accuracy is measured once
after training and only reported, never used to choose anything.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from genlab.atomic import write_atomic
from genlab.data.dataset import Dataset, Split
from genlab.data.scaling import to_centered
from genlab.errors import GenlabError
from genlab.metrics.shipped import find_shipped

__all__ = [
    "ARCH_VERSION",
    "FEATURES",
    "FeatureCNN",
    "FeatureNet",
    "TrainRecipe",
    "epoch_batches",
    "get_feature_net",
    "save_weights",
    "shift_augment",
    "train_classifier",
    "train_steps",
]

ARCH_VERSION = "featcnn-v3"  # v3: BatchNorm, flattened map -> 128 features, steps from data size
FEATURES = 128
MAX_GRID = 8  # the last feature map is average-pooled to at most 8x8 before flattening


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class FeatureCNN(nn.Module):
    """Small CNN: (N, C, H, W) in [-1, 1] -> (N, 128) features -> class logits.

    conv32 -> maxpool 2 -> conv64 -> maxpool 2 -> conv128 (3x3 conv + BatchNorm +
    ReLU each), the (128, H/4, W/4) map average-pooled to at most 8x8, flattened,
    then linear -> 128 + BatchNorm + ReLU: the features. The layout is kept (rather
    than a global average) because where a collar or a sleeve is tells Fashion-MNIST's
    classes apart: on a held-out tenth of Fashion-MNIST's train split it classifies
    0.925 against 0.910 for the global mean (``max_grid=1``), +0.015 +- 0.003 paired;
    on digits the two are inside noise (benchmarks/feature_layout.py). Needs H, W >= 4.
    """

    def __init__(
        self, channels: int, height: int, width: int, num_classes: int, max_grid: int = MAX_GRID
    ) -> None:
        super().__init__()
        if height < 4 or width < 4:
            raise GenlabError(f"feature network needs images of at least 4x4, got {height}x{width}")
        if max_grid < 1:
            raise GenlabError(f"feature network needs max_grid >= 1, got {max_grid}")
        grid = (min(height // 4, max_grid), min(width // 4, max_grid))  # max_grid 1: global mean
        self.body = nn.Sequential(
            _conv(channels, 32), nn.MaxPool2d(2), _conv(32, 64), nn.MaxPool2d(2), _conv(64, 128)
        )
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.embed = nn.Sequential(
            nn.Linear(128 * grid[0] * grid[1], FEATURES, bias=False),
            nn.BatchNorm1d(FEATURES),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) centred images -> (N, 128) penultimate activations."""
        return self.embed(self.pool(self.body(x)).flatten(1))  # (N, 128, h, w) -> (N, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass(frozen=True)
class TrainRecipe:
    """Training schedule of the feature CNN (part of the cache fingerprint).

    AdamW with a one-cycle LR (warm-up then cosine decay), batches from a fresh
    permutation each epoch, ±1 pixel shifts, cross-entropy with label smoothing.
    The step count comes from :func:`train_steps`: ``epochs`` passes over the
    train split, at least ``min_steps`` (a small set such as digits needs many
    passes), at most ``max_pixels`` image pixels seen (the CPU cost grows with H*W).
    """

    epochs: float = 3.0  # >= 0
    min_steps: int = 600  # >= 1
    max_pixels: float = 1.5e8  # > 0; pixels of one channel, summed over all images seen
    batch_size: int = 128  # >= 2 (BatchNorm)
    lr: float = 3e-3  # > 0, peak of the one-cycle schedule
    weight_decay: float = 5e-4  # >= 0
    label_smoothing: float = 0.1  # in [0, 1)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "epochs >= 0": self.epochs >= 0,
            "min_steps >= 1": self.min_steps >= 1,
            "max_pixels > 0": self.max_pixels > 0,
            "batch_size >= 2": self.batch_size >= 2,
            "lr > 0": self.lr > 0,
            "weight_decay >= 0": self.weight_decay >= 0,
            "0 <= label_smoothing < 1": 0 <= self.label_smoothing < 1,
        }
        broken = [rule for rule, ok in checks.items() if not ok]
        if broken:
            raise GenlabError(f"TrainRecipe needs {', '.join(broken)}; got {self!r}")


def train_steps(recipe: TrainRecipe, n_train: int, shape: tuple[int, ...]) -> int:
    """Optimiser steps for ``n_train`` images of ``shape`` (C, H, W).

    ``clip(ceil(epochs * n_train / batch), min_steps, ...)``, then capped at
    ``max_pixels / (batch * H * W)`` (the cap wins; at least 1 step). Defaults:
    digits (1437, 8x8) 600 steps; Fashion-MNIST (60000, 28x28) 1407 (3 epochs);
    CIFAR-10 (50000, 32x32) 1144 (2.9 epochs).
    """
    by_epochs = max(math.ceil(recipe.epochs * n_train / recipe.batch_size), recipe.min_steps)
    cap = int(recipe.max_pixels // (recipe.batch_size * math.prod(shape[1:])))
    return max(1, min(by_epochs, cap))


def epoch_batches(
    n: int, batch_size: int, steps: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """``steps`` index batches (batch_size,) into range(n): each epoch a fresh permutation.

    A batch that runs past the end of one permutation is completed from the next,
    so every batch is full and every image is seen once per epoch.
    """
    pending = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(pending) < batch_size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def shift_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of (N, C, H, W) by a random -1, 0 or +1 pixel in x and y.

    Edge pixels are replicated into the vacated border; no flips (digits are not
    mirror-symmetric).
    """
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    dy, dx = torch.randint(0, 3, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(h))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx + torch.arange(w))[:, None, None, :]  # (N, 1, 1, W)
    batch, chan = torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def train_classifier(
    net: FeatureCNN, dataset: Dataset, recipe: TrainRecipe, *, progress: bool = True
) -> float:
    """Train ``net`` in place on the train split (CPU, one thread, seeded); return test accuracy.

    ``progress`` shows a bar on stderr (images, images/s, ETA).
    """
    gen = torch.Generator().manual_seed(recipe.seed)
    x = to_centered(dataset.train.x.cpu(), dataset.levels)
    assert dataset.train.y is not None
    y = dataset.train.y.long().cpu()
    steps = train_steps(recipe, len(x), dataset.shape)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=steps)
    bar = _progress_bar(dataset.name, steps * recipe.batch_size, progress)
    net.cpu().train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # float reductions depend on the thread count: same weights anywhere
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)  # dropout
            for step, idx in enumerate(epoch_batches(len(x), recipe.batch_size, steps, gen)):
                logits = net(shift_augment(x[idx], gen))
                loss = nn.functional.cross_entropy(
                    logits, y[idx], label_smoothing=recipe.label_smoothing
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(len(idx))
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    finally:
        torch.set_num_threads(threads)
        bar.close()
    return _accuracy(net.eval(), dataset.test, dataset.levels)


def _progress_bar(name: str, images: int, enabled: bool) -> tqdm:
    return tqdm(
        total=images,
        desc=f"feature net ({name})",
        unit="img",
        unit_scale=True,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 15.0,
    )


def _accuracy(net: FeatureCNN, split: Split, levels: int | None) -> float:
    """Share of ``split`` classified correctly by ``net`` (eval mode, CPU)."""
    assert split.y is not None
    with torch.no_grad():
        pred = torch.cat([net(to_centered(c, levels)).argmax(1) for c in split.x.cpu().split(1000)])
    return float((pred == split.y.cpu()).double().mean())


class FeatureNet:
    """A trained feature extractor for one dataset (or the identity for vector data).

    Attributes:
        name: ``"shipped-featcnn-v3:digits"`` (weights shipped with genlab),
            ``"local-featcnn-v3:cifar10-1a2b3c4d5e6f7a8b"`` (trained on this machine, with
            the fingerprint of its data and recipe) or ``"identity"``.
        test_accuracy: classifier accuracy on the test split (NaN for identity).
        from_cache: True when the weights were loaded rather than trained here.
    """

    def __init__(
        self,
        net: FeatureCNN | None,
        levels: int | None,
        *,
        name: str,
        test_accuracy: float,
        from_cache: bool = False,
    ) -> None:
        self.net = net.eval() if net is not None else None
        self.levels = levels
        self.name = name
        self.test_accuracy = test_accuracy
        self.from_cache = from_cache

    def features(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Data-space batch (N, C, H, W) or (N, D) -> float32 CPU features (N, F)."""
        if self.net is None:
            return x.float().reshape(len(x), -1).cpu()
        device = next(self.net.parameters()).device
        out = []
        with torch.no_grad():
            for chunk in x.split(batch_size):
                out.append(self.net.features(to_centered(chunk.to(device), self.levels)).cpu())
        return torch.cat(out) if out else torch.empty(0, FEATURES)


def get_feature_net(
    dataset: Dataset,
    *,
    device: torch.device | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    recipe: TrainRecipe | None = None,
    progress: bool = True,
    shipped: bool = True,
) -> FeatureNet:
    """The feature network of ``dataset``: the weights shipped with genlab when they were
    trained on this train split with this recipe (and ``shipped``), else loaded from the
    local cache, else trained and cached.

    Training runs on CPU with a fixed seed, so the weights do not depend on
    ``device`` (where :meth:`FeatureNet.features` then runs). ``recipe`` (default
    :class:`TrainRecipe`) is part of the cache fingerprint; ``progress`` shows a
    bar while training (loading from the cache is silent). Vector data get the
    identity. Raises GenlabError for an image dataset without labels.
    """
    recipe = recipe or TrainRecipe()
    if not dataset.meta.is_image:
        return FeatureNet(None, dataset.levels, name="identity", test_accuracy=math.nan)
    if dataset.train.y is None or dataset.test.y is None:
        raise GenlabError("fd/kid need a labelled dataset to train the feature network")
    fingerprint = dataset_fingerprint(dataset, recipe)
    net = _new_net(dataset, recipe.seed)
    found = find_shipped(ARCH_VERSION, dataset.name, fingerprint) if shipped else None
    if found is not None:
        accuracy = _load(net, found.verified_path())
        if accuracy is None:
            raise GenlabError(f"shipped feature weights {found.path} are unreadable; reinstall")
        net = net.to(device if device is not None else "cpu")
        return FeatureNet(
            net, dataset.levels, name=found.name, test_accuracy=accuracy, from_cache=True
        )
    path = cache_path(dataset.name, fingerprint, cache_dir)
    accuracy = _load(net, path)
    from_cache = accuracy is not None
    if accuracy is None:
        accuracy = train_classifier(net, dataset, recipe, progress=progress)
        save_weights(net, path, accuracy)
    net = net.to(device if device is not None else "cpu")
    name = f"local-{ARCH_VERSION}:{dataset.name}-{fingerprint}"
    return FeatureNet(net, dataset.levels, name=name, test_accuracy=accuracy, from_cache=from_cache)


def dataset_fingerprint(dataset: Dataset, recipe: TrainRecipe) -> str:
    """16 hex digits of sha256 over architecture version, recipe, train images and labels."""
    h = hashlib.sha256(f"{ARCH_VERSION}|{recipe!r}".encode())
    h.update(repr((tuple(dataset.train.x.shape), str(dataset.train.x.dtype))).encode())
    h.update(dataset.train.x.contiguous().cpu().numpy().tobytes())
    assert dataset.train.y is not None
    h.update(dataset.train.y.long().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_path(name: str, fingerprint: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    """``<cache>/features/<safe-name>-<fingerprint>.safetensors``."""
    root = cache_dir or os.environ.get("GENLAB_CACHE") or Path.home() / ".cache" / "genlab"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:64]
    return Path(root).expanduser() / "features" / f"{safe}-{fingerprint}.safetensors"


def _new_net(dataset: Dataset, seed: int) -> FeatureCNN:
    channels, height, width = dataset.shape
    assert dataset.train.y is not None
    classes = dataset.num_classes or int(dataset.train.y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FeatureCNN(channels, height, width, classes)


def _load(net: FeatureCNN, path: Path) -> float | None:
    """Load cached weights into ``net``; their test accuracy, or None if absent/corrupt."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
        if meta.get("arch") != ARCH_VERSION:
            return None
        net.load_state_dict(state)
        return float(meta["test_accuracy"])
    except (SafetensorError, OSError, RuntimeError, KeyError, ValueError):
        return None


def save_weights(net: FeatureCNN, path: Path, accuracy: float) -> None:
    """Write weights atomically (temp file, then rename) with the accuracy as metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {"arch": ARCH_VERSION, "test_accuracy": repr(accuracy)}
    write_atomic(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
