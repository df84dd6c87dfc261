"""The feature network behind FD, KID and precision/recall.

No Inception network is available offline, so each image dataset gets its own
small CNN classifier, trained deterministically (fixed seed, CPU, fixed number
of steps, ±1 pixel random shifts) on its train split only. Its globally pooled
penultimate activations (128 features) are the feature space, in the spirit of
Heusel et al. 2017 (FID with Inception pool3). Weights are cached with
safetensors under ``<cache>/features/<dataset>-<fingerprint>.safetensors``; the
fingerprint hashes the train images, labels, :data:`ARCH_VERSION` and the
training recipe, so a changed dataset or architecture never reuses stale weights.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from genlab.data.dataset import Dataset, Split
from genlab.data.scaling import to_centered
from genlab.errors import GenlabError

__all__ = [
    "ARCH_VERSION",
    "FeatureCNN",
    "FeatureNet",
    "TrainRecipe",
    "get_feature_net",
    "shift_augment",
    "train_classifier",
]

ARCH_VERSION = "featcnn-v2"  # v2: trained on one thread
FEATURES = 128


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.GroupNorm(8, c_out),
        nn.ReLU(),
    )


class FeatureCNN(nn.Module):
    """Small CNN: (N, C, H, W) in [-1, 1] -> (N, 128) pooled features -> class logits.

    Stages (3x3 conv + GroupNorm + ReLU each): conv32 [-> conv32 stride 2 when
    H, W >= 16] -> conv32 -> maxpool 2 -> conv64 -> conv128 -> global average pool.
    Global pooling makes it work for 8x8, 28x28 and 32x32 alike.
    """

    def __init__(self, channels: int, size: int, num_classes: int) -> None:
        super().__init__()
        layers = [_conv(channels, 32)]
        if size >= 16:
            layers.append(_conv(32, 32, stride=2))
        layers += [_conv(32, 32), nn.MaxPool2d(2), _conv(32, 64), _conv(64, FEATURES)]
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) centred images -> (N, 128) globally pooled activations."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass(frozen=True)
class TrainRecipe:
    """Fixed training schedule of the feature CNN (part of the cache fingerprint).

    AdamW with a one-cycle LR (warm-up then cosine decay), batches drawn with
    replacement, ±1 pixel shifts; ``steps`` is fixed whatever the dataset size.
    """

    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0


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


def train_classifier(net: FeatureCNN, dataset: Dataset, recipe: TrainRecipe) -> float:
    """Train ``net`` in place on the train split (CPU, seeded); return test accuracy."""
    gen = torch.Generator().manual_seed(recipe.seed)
    x = to_centered(dataset.train.x.cpu(), dataset.levels)
    y = dataset.train.y.long().cpu() if dataset.train.y is not None else None
    assert y is not None
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=recipe.steps)
    net.cpu().train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # float reductions depend on the thread count: same weights anywhere
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)  # dropout
            for _ in range(recipe.steps):
                idx = torch.randint(0, len(x), (recipe.batch_size,), generator=gen)
                loss = nn.functional.cross_entropy(net(shift_augment(x[idx], gen)), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    finally:
        torch.set_num_threads(threads)
    return _accuracy(net.eval(), dataset.test, dataset.levels)


def _accuracy(net: FeatureCNN, split: Split, levels: int | None) -> float:
    """Share of ``split`` classified correctly by ``net`` (eval mode, CPU)."""
    assert split.y is not None
    with torch.no_grad():
        pred = torch.cat([net(to_centered(c, levels)).argmax(1) for c in split.x.cpu().split(1000)])
    return float((pred == split.y.cpu()).double().mean())


class FeatureNet:
    """A trained feature extractor for one dataset (or the identity for vector data).

    Attributes:
        name: e.g. ``"featcnn-v2:digits-1a2b3c4d5e6f7a8b"`` or ``"identity"``.
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
) -> FeatureNet:
    """The feature network of ``dataset``: loaded from the cache, else trained and cached.

    Training runs on CPU with a fixed seed, so the weights do not depend on
    ``device`` (where :meth:`FeatureNet.features` then runs). ``recipe`` (default
    :class:`TrainRecipe`) is part of the cache fingerprint. Vector data get the
    identity. Raises GenlabError for an image dataset without labels.
    """
    recipe = recipe or TrainRecipe()
    if not dataset.meta.is_image:
        return FeatureNet(None, dataset.levels, name="identity", test_accuracy=math.nan)
    if dataset.train.y is None or dataset.test.y is None:
        raise GenlabError("fd/kid need a labelled dataset to train the feature network")
    fingerprint = dataset_fingerprint(dataset, recipe)
    path = cache_path(dataset.name, fingerprint, cache_dir)
    net = _new_net(dataset, recipe.seed)
    accuracy = _load(net, path)
    from_cache = accuracy is not None
    if accuracy is None:
        accuracy = train_classifier(net, dataset, recipe)
        _save(net, path, accuracy)
    net = net.to(device if device is not None else "cpu")
    name = f"{ARCH_VERSION}:{dataset.name}-{fingerprint}"
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
        return FeatureCNN(channels, min(height, width), classes)


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


def _save(net: FeatureCNN, path: Path, accuracy: float) -> None:
    """Write weights atomically (temp file, then rename) with the accuracy as metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    save_file(state, str(tmp), metadata={"arch": ARCH_VERSION, "test_accuracy": repr(accuracy)})
    os.replace(tmp, path)
