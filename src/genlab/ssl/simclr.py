"""The ``simclr`` family: contrastive learning of two augmented views (Chen et al. 2020).

Each image x gives two views ``t(x), t'(x)`` drawn from the augmentation family
(:func:`genlab.data.augment.default_augment` of the dataset); the encoder f gives
``h = f(t(x))`` and a 2-layer projection head g gives ``z = g(h)``. NT-Xent (Eq. 1) makes
each view's z pick its partner among the 2N - 1 others of the batch, by cosine
similarity over a temperature. The representation kept is h, before the head (Sec. 4.2:
the head discards what the augmentations vary, h keeps more).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.config import ranged
from genlab.data.augment import AugmentConfig, default_augment, two_views
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.metrics.distances import cosine_similarity
from genlab.nn import MLP
from genlab.nn.contrastive import NTXentLoss
from genlab.nn.encoder import Encoder, EncoderConfig, spawn_generator

__all__ = ["SimCLR", "SimCLRConfig", "build_simclr", "pair_accuracy"]


@dataclass(frozen=True)
class SimCLRConfig(EncoderConfig):
    """Options of the ``simclr`` family (backbone options from EncoderConfig)."""

    # z, where NT-Xent compares the views
    proj_dim: int = ranged(64, lambda v: v >= 1, "at least 1")
    # the projection head's hidden layer
    proj_hidden: int = ranged(256, lambda v: v >= 1, "at least 1")
    # 0.5 over 0.2, re-chosen on digits' train split only (benchmarks/simclr_temperature_
    # digits.py, results/simclr_temperature_digits.json): the probe's cross-validated
    # accuracy over 1293 train images 0.990 against 0.979; on the 144 held-out train
    # images both probe at 0.993 and 5-NN gives 1.000 against 0.986 (one seed each)
    temperature: float = ranged(0.5, lambda v: v > 0, "positive")


def pair_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Share of the 2N views whose most similar other view is their partner, () in [0, 1]."""
    z = torch.cat([z1, z2])  # (2N, D)
    sim = cosine_similarity(z).fill_diagonal_(float("-inf"))
    n = len(z1)
    partner = torch.arange(2 * n, device=z.device).roll(n)  # i <-> i + N
    return (sim.argmax(1) == partner).float().mean()


class SimCLR(nn.Module):
    """``loss(x)``: NT-Xent of two augmented views; ``embed(x)``: the encoder's h (N, d).

    ``augment`` overrides the dataset's default augmentations (training only: it is not
    saved with the run, and ``embed`` never augments).
    """

    def __init__(
        self, config: SimCLRConfig, meta: DataMeta, augment: AugmentConfig | None = None
    ) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.encoder = Encoder.from_config(config, meta)
        self.head = MLP(
            config.embed_dim, config.proj_dim, config.proj_hidden, depth=1, zero_init_last=False
        )
        self.criterion = NTXentLoss(config.temperature)
        self.augment = augment if augment is not None else default_augment(meta.name)

    def views(
        self, x: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented model-space views (N, C, H, W) of a data-space batch."""
        return two_views(self.encoder.centered(x), self.augment, generator=generator)

    def project(self, views: torch.Tensor) -> torch.Tensor:
        """Model-space views (M, C, H, W) -> projections z (M, proj_dim)."""
        return self.head(self.encoder(views))

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """NT-Xent of the two views' projections; labels are ignored. ``generator``
        draws the views (None: one seeded from the global generator)."""
        g = generator if generator is not None else spawn_generator(x.device)
        v1, v2 = self.views(x, g)
        z1, z2 = self.project(torch.cat([v1, v2])).chunk(2)  # one pass: (N, proj_dim) each
        loss = self.criterion(z1, z2)
        return loss, {"pair_acc": pair_accuracy(z1.detach(), z2.detach())}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch (N, C, H, W) -> h (N, embed_dim), no augmentation."""
        return self.encoder.embed(x)


def build_simclr(cfg: SimCLRConfig, meta: DataMeta) -> SimCLR:
    """The family's builder: checks the options against the data."""
    if len(meta.shape) != 3:
        raise ConfigError(
            f"simclr augments images (C, H, W), got shape {tuple(meta.shape)}: use an image dataset"
        )
    return SimCLR(cfg, meta)
