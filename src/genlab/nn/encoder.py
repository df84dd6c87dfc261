"""The backbone shared by the representation families (simclr, rotation, masked, triplet,
classifier): it lives here, below them, so that none of them imports another.

An :class:`Encoder` maps a data-space batch to its representation ``h`` (N, embed_dim):
images (N, C, H, W) through :class:`genlab.nn.ConvEncoder`, vectors (N, D) through
:class:`genlab.nn.MLP`, after :func:`genlab.data.scaling.to_centered`. ``h`` is what a
family's ``embed`` returns and what probes and retrieval read; heads (projection,
rotation classifier, pixel decoder) sit on top of it and are dropped after training.

Every family's config subclasses :class:`EncoderConfig`, so the backbone options are the
same flat keys everywhere (``model.embed_dim=64``, ``model.channels=16``). A model declares
its backbone with :class:`HasEncoder`, and one that starts from another run's backbone
(``model.init=RUN``, done by the run layer) with :class:`WarmStartable`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from genlab.config import check_fields, ranged
from genlab.data.augment import AugmentConfig, augment
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError
from genlab.nn.convnet import ConvEncoder
from genlab.nn.mlp import MLP

__all__ = [
    "TRAIN_DEFAULTS",
    "Encoder",
    "EncoderConfig",
    "HasEncoder",
    "WarmStartable",
    "spawn_generator",
]


# Train defaults of the representation families, chosen on digits (1437 images): AdamW
# with weight decay, the loss on a held-out tenth of train every 100 steps, the best
# weights kept. Families override what differs.
TRAIN_DEFAULTS: dict[str, object] = {
    "train.steps": 2000,
    "train.batch_size": 256,
    "train.lr": 1e-3,
    "train.warmup": 100,
    "train.weight_decay": 0.05,
    "train.grad_clip": 1.0,
    "train.ema": 0.0,
    "train.val_fraction": 0.1,
    "train.select": "best",
    "train.eval_every": 100,
    "train.sample_every": 0,
}


@dataclass(frozen=True)
class EncoderConfig:
    """Backbone options of every representation family (``model.KEY=VALUE``)."""

    # the size of the representation h that embed() returns
    embed_dim: int = ranged(128, lambda v: v >= 1, "at least 1")
    # images: first level's channels (doubling at each level)
    channels: int = ranged(32, lambda v: v >= 1, "at least 1")
    # images: stride-2 levels (8x8 -> 4x4 -> 2x2)
    levels: int = ranged(2, lambda v: v >= 0, "at least 0")
    # images: residual blocks per level
    blocks: int = ranged(1, lambda v: v >= 1, "at least 1")
    # vectors: MLP width and hidden layers
    hidden: int = ranged(256, lambda v: v >= 1, "at least 1")
    depth: int = ranged(2, lambda v: v >= 0, "at least 0")
    # before the encoder's last linear map (and in its blocks)
    dropout: float = ranged(0.0, lambda v: 0 <= v < 1, "in [0, 1)")
    # images: stride of the first conv (2: ~5x faster at 28x28, weaker probe)
    stem: int = ranged(1, lambda v: v in (1, 2), "1 or 2 (the first conv's stride)")

    def __post_init__(self) -> None:
        check_fields(self, "model.")


class Encoder(nn.Module):
    """Data (N, *shape) -> representation h (N, embed_dim).

    ``forward`` takes the model-space batch (``centered(x)``, possibly augmented or
    masked); ``embed`` takes the data-space batch. GroupNorm (per example) and no batch
    statistics: an example's h never depends on the rest of its batch.
    """

    def __init__(
        self,
        meta: DataMeta,
        embed_dim: int = 128,
        channels: int = 32,
        levels: int = 2,
        blocks: int = 1,
        hidden: int = 256,
        depth: int = 2,
        dropout: float = 0.0,
        stem: int = 1,
    ) -> None:
        super().__init__()
        self.shape, self.data_levels, self.embed_dim = tuple(meta.shape), meta.levels, embed_dim
        self.options = EncoderConfig(
            embed_dim, channels, levels, blocks, hidden, depth, dropout, stem
        )  # what built it; not saved with the weights
        self.net: nn.Module
        if len(self.shape) == 3:
            self.net = ConvEncoder(
                self.shape,  # type: ignore[arg-type]
                embed_dim,
                channels=channels,
                levels=levels,
                blocks=blocks,
                dropout=dropout,
                stem=stem,
            )
        else:
            dims = math.prod(self.shape)
            self.net = MLP(dims, embed_dim, hidden, depth, dropout, zero_init_last=False)

    @classmethod
    def from_config(cls, cfg: EncoderConfig, meta: DataMeta) -> Encoder:
        if len(meta.shape) not in (1, 3):
            raise ConfigError(
                "representation models take images (C, H, W) or vectors (D), "
                f"got shape {tuple(meta.shape)}"
            )
        return cls(
            meta, cfg.embed_dim, cfg.channels, cfg.levels, cfg.blocks, cfg.hidden, cfg.depth,
            cfg.dropout, cfg.stem,
        )  # fmt: skip

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def differences(self, other: Encoder) -> list[str]:
        """``model.KEY=VALUE`` of each option of ``other`` that builds another network than
        this one's (dropout has no weights, so it may differ); empty when they agree."""
        ours, theirs = asdict(self.options), asdict(other.options)
        return [f"model.{k}={v}" for k, v in theirs.items() if k != "dropout" and ours[k] != v]

    def centered(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch -> model space: floats in [-1, 1] (levels) or as is (continuous)."""
        assert tuple(x.shape[1:]) == self.shape, (tuple(x.shape), self.shape)
        return to_centered(x, self.data_levels, next(self.parameters()).dtype)

    def inputs(
        self,
        x: torch.Tensor,
        augmentation: AugmentConfig | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Data-space batch -> model space, augmented (images, training mode only) with
        ``generator`` (None: one from :func:`spawn_generator`)."""
        h = self.centered(x)
        if self.training and augmentation is not None and self.is_image:
            g = generator if generator is not None else spawn_generator(h.device)
            h = augment(h, augmentation, generator=g)
        return h

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Model-space batch (N, *shape) -> representation (N, embed_dim)."""
        return self.net(h if self.is_image else h.flatten(1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch (N, *shape) -> representation (N, embed_dim)."""
        return self(self.centered(x))


def spawn_generator(device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from torch's global CPU generator.

    The trainer seeds the global generator (and saves its state in checkpoints), so the
    augmentations and masks drawn from this generator are reproducible and resume exactly,
    while each call draws fresh ones.
    """
    seed = int(torch.randint(0, 2**62, (1,)))
    return torch.Generator(device=device).manual_seed(seed)


@runtime_checkable
class HasEncoder(Protocol):
    """A model built on the shared backbone: its ``encoder`` gives the representation h."""

    encoder: Encoder


@runtime_checkable
class WarmStartable(Protocol):
    """A model whose backbone may start from a trained run's (``model.init=RUN``).

    The run layer (``genlab.warm_start``) loads the run named by ``init_run`` and hands
    its encoder to ``warm_start`` once, before the first training step; never on load
    or resume, so a saved run holds all its weights.
    """

    @property
    def init_run(self) -> str:
        """The run folder whose encoder starts training; ``""`` for none."""
        ...

    def warm_start(self, encoder: Encoder) -> None:
        """Copy ``encoder``'s weights into this model's backbone (ConfigError if they
        cannot fit)."""
        ...
