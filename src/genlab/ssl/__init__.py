"""Self-supervised representation learning: augmentations, the shared encoder, SimCLR and
the pretext tasks (rotation, masked reconstruction), each a family; probes live in
``genlab.ssl.probe`` (imported on use: it needs scikit-learn)."""

from __future__ import annotations

from genlab.family import Family
from genlab.ssl.augment import AugmentConfig, augment, default_augment, two_views
from genlab.ssl.encoder import Encoder, EncoderConfig, spawn_generator
from genlab.ssl.pretext import (
    MaskedConfig,
    MaskedReconstruction,
    RotationConfig,
    RotationPrediction,
    build_masked,
    build_rotation,
    masked_mse,
    patch_mask,
    rotations,
)
from genlab.ssl.simclr import SimCLR, SimCLRConfig, build_simclr, pair_accuracy

__all__ = [
    "MASKED_FAMILY",
    "ROTATION_FAMILY",
    "SIMCLR_FAMILY",
    "AugmentConfig",
    "Encoder",
    "EncoderConfig",
    "MaskedConfig",
    "MaskedReconstruction",
    "RotationConfig",
    "RotationPrediction",
    "SimCLR",
    "SimCLRConfig",
    "augment",
    "build_masked",
    "build_rotation",
    "build_simclr",
    "default_augment",
    "masked_mse",
    "pair_accuracy",
    "patch_mask",
    "rotations",
    "spawn_generator",
    "two_views",
]

# Train defaults shared by the three (chosen on digits, see each family's note): AdamW with
# weight decay, validation loss on a held-out tenth of train, the best weights kept.
_TRAIN = {
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

SIMCLR_FAMILY = Family(
    name="simclr",
    config=SimCLRConfig,
    build=build_simclr,
    kind="representation",
    defaults=dict(_TRAIN),
    description="SimCLR: NT-Xent between two augmented views (conv encoder + projection head)",
)

ROTATION_FAMILY = Family(
    name="rotation",
    config=RotationConfig,
    build=build_rotation,
    kind="representation",
    defaults=dict(_TRAIN),
    description="pretext task: predict which of 4 quarter turns an image was given",
)

MASKED_FAMILY = Family(
    name="masked",
    config=MaskedConfig,
    build=build_masked,
    kind="representation",
    defaults=dict(_TRAIN),
    description="pretext task: reconstruct masked patches from the visible ones",
)
