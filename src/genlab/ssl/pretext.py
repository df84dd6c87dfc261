"""Pretext tasks: the ``rotation`` and ``masked`` families.

Rotation prediction (Gidaris et al. 2018, "Unsupervised representation learning by
predicting image rotations", Sec. 3.1): every image is shown at the four rotations
``k * 90`` degrees counter-clockwise (``torch.rot90(x, k, dims=(-2, -1))``, exact), and a
head on the representation predicts k by cross-entropy (Eq. 2: the mean over the four).

Masked reconstruction (a small-scale MAE, He et al. 2022; pixel inpainting, Pathak et al.
2016): a random ``mask_ratio`` of the patches of each image is replaced by a learned
fill value, and a decoder from the representation predicts every pixel; the loss is the
mean squared error on the masked pixels only (MAE, Sec. 3: "loss only on masked
patches"), in the centred space [-1, 1].

Light augmentation (:func:`genlab.data.augment.default_augment`) is applied in training
only, before rotating or masking: on 1437 digits both tasks are learnt to near
perfection within a few hundred steps, and new views every step keep the encoder from
memorising the training images. Validation and ``embed`` never augment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ranged
from genlab.data.augment import default_augment
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.nn import MLP
from genlab.nn.encoder import Encoder, EncoderConfig, spawn_generator

__all__ = [
    "MaskedConfig",
    "MaskedReconstruction",
    "RotationConfig",
    "RotationPrediction",
    "build_masked",
    "build_rotation",
    "masked_mse",
    "patch_mask",
    "rotations",
]


# ---------------------------------------------------------------- pure functions


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) square images -> (4N, C, H, W) rotated copies and their labels (4N,).

    Block k (rows ``k*N .. (k+1)*N``) is ``torch.rot90(x, k, dims=(-2, -1))``: k quarter
    turns counter-clockwise as displayed, label k.
    """
    assert x.dim() == 4 and x.shape[-1] == x.shape[-2], tuple(x.shape)
    turned = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return turned, labels


def patch_mask(
    n: int,
    shape: tuple[int, ...],
    ratio: float,
    patch: int = 1,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """Bool mask (n, 1, H, W) for images ``shape = (C, H, W)`` or (n, D) for vectors: in
    each example exactly ``round(ratio * P)`` of its P patches (``patch`` x ``patch``
    pixels, the last row/column of patches cut at the border; single entries for vectors)
    are masked, chosen uniformly (the ranks of iid uniforms, as in MAE)."""
    grid = (math.ceil(shape[1] / patch), math.ceil(shape[2] / patch)) if len(shape) == 3 else shape
    cells = math.prod(grid)
    count = round(ratio * cells)
    noise = torch.rand(n, cells, generator=generator, device=generator.device)
    rank = noise.argsort(1).argsort(1)  # (n, P): a uniformly random permutation per row
    mask = (rank < count).view(n, *grid)
    if len(shape) != 3:
        return mask
    full = mask.repeat_interleave(patch, 1).repeat_interleave(patch, 2)
    return full[:, None, : shape[1], : shape[2]]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred - target)^2`` over the masked entries only, ().

    ``mask`` (bool) broadcasts against ``pred`` and ``target`` (e.g. (N, 1, H, W) masks
    every channel of a pixel); an empty mask gives 0.
    """
    m = mask.expand_as(pred).to(pred.dtype)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)


# ---------------------------------------------------------------- rotation


@dataclass(frozen=True)
class RotationConfig(EncoderConfig):
    """Options of the ``rotation`` family (backbone options from EncoderConfig)."""

    # 0: a linear head on h (Gidaris et al.: the task shapes h itself)
    head_hidden: int = ranged(0, lambda v: v >= 0, "at least 0 (0: a linear head)")
    augment: bool = True  # default_augment of the dataset, in training only


class RotationPrediction(nn.Module):
    """``loss(x)``: cross-entropy of the quarter turn of each rotated copy;
    ``embed(x)``: the encoder's h (N, embed_dim) of the upright image."""

    def __init__(self, config: RotationConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.encoder = Encoder.from_config(config, meta)
        depth = 1 if config.head_hidden > 0 else 0
        hidden = max(config.head_hidden, 1)
        self.head = MLP(config.embed_dim, 4, hidden, depth, zero_init_last=False)
        self.augment = default_augment(meta.name) if config.augment else None

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-space images (N, C, H, W) -> logits (4N, 4) of their rotations, labels (4N,)."""
        turned, labels = rotations(x)
        return self.head(self.encoder(turned)), labels

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean cross-entropy over the 4N rotated copies; logs the rotation accuracy."""
        h = self.encoder.inputs(x, self.augment, generator)
        logits, labels = self.logits(h)
        loss = F.cross_entropy(logits, labels)
        return loss, {"accuracy": (logits.detach().argmax(1) == labels).float().mean()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch (N, C, H, W) -> h (N, embed_dim)."""
        return self.encoder.embed(x)


def build_rotation(cfg: RotationConfig, meta: DataMeta) -> RotationPrediction:
    """The family's builder: square images only (a quarter turn must keep the shape)."""
    if len(meta.shape) != 3 or meta.shape[1] != meta.shape[2]:
        raise ConfigError(
            f"rotation needs square images (C, H, H), got shape {tuple(meta.shape)}: "
            "use an image dataset"
        )
    return RotationPrediction(cfg, meta)


# ---------------------------------------------------------------- masked reconstruction


@dataclass(frozen=True)
class MaskedConfig(EncoderConfig):
    """Options of the ``masked`` family (backbone options from EncoderConfig)."""

    # share of the patches hidden from the encoder
    mask_ratio: float = ranged(0.5, lambda v: 0 < v < 1, "in (0, 1)")
    # patch side in pixels (images): 2 hides whole stroke pieces of 8x8 digits
    patch: int = ranged(2, lambda v: v >= 1, "at least 1")
    # the MLP decoder's hidden layer (h -> every pixel)
    decoder_hidden: int = ranged(256, lambda v: v >= 1, "at least 1")
    augment: bool = True  # default_augment of the dataset, in training only


class MaskedReconstruction(nn.Module):
    """``loss(x)``: MSE of the decoded pixels on the masked ones (centred space);
    ``embed(x)``: the encoder's h (N, embed_dim) of the unmasked input."""

    def __init__(self, config: MaskedConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.shape = tuple(meta.shape)
        self.encoder = Encoder.from_config(config, meta)
        channels = self.shape[0] if len(self.shape) == 3 else math.prod(self.shape)
        # what a masked entry reads, learnt (MAE's mask token, one value per channel)
        self.fill = nn.Parameter(torch.zeros(channels))
        self.decoder = MLP(
            config.embed_dim, math.prod(self.shape), config.decoder_hidden, 1, zero_init_last=False
        )
        image = len(self.shape) == 3
        self.augment = default_augment(meta.name) if config.augment and image else None

    def mask_input(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Model-space batch with the masked entries replaced by the learned fill."""
        fill = self.fill.view(1, -1, 1, 1) if h.dim() == 4 else self.fill.view(1, -1)
        return torch.where(mask, fill.to(h.dtype), h)

    def reconstruct(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Model-space batch and its mask -> predicted model-space batch (N, *shape)."""
        return self.decoder(self.encoder(self.mask_input(h, mask))).view(len(h), *self.shape)

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """MSE on the masked entries; logs the MSE on the visible ones as well."""
        g = generator if generator is not None else spawn_generator(x.device)
        h = self.encoder.inputs(x, self.augment, g)
        cfg = self.config
        mask = patch_mask(len(h), self.shape, cfg.mask_ratio, cfg.patch, generator=g)
        mask = mask.to(h.device)
        pred = self.reconstruct(h, mask)
        loss = masked_mse(pred, h, mask)
        return loss, {"visible_mse": masked_mse(pred.detach(), h, ~mask)}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch (N, *shape) -> h (N, embed_dim), nothing masked."""
        return self.encoder.embed(x)


def build_masked(cfg: MaskedConfig, meta: DataMeta) -> MaskedReconstruction:
    """The family's builder."""
    return MaskedReconstruction(cfg, meta)
