"""The ``pixelwise`` family: independent per-dimension categoricals (the baseline)."""

from __future__ import annotations

from genlab.family import Family, NoSamplingOptions
from genlab.pixelwise.model import Pixelwise, PixelwiseConfig

__all__ = ["FAMILY", "Pixelwise", "PixelwiseConfig"]

FAMILY = Family(
    name="pixelwise",
    config=PixelwiseConfig,
    build=Pixelwise,
    defaults={
        # the optimum is known in closed form (add-one histogram of the whole train
        # split): nothing to select, so no validation hold-out
        "train.val_fraction": 0.0,
        "train.select": "last",
        "train.steps": 1500,
        "train.batch_size": 256,
        "train.lr": 0.1,
        "train.warmup": 50,
        "train.grad_clip": 0.0,
        "train.ema": 0.99,
        "train.sample_every": 500,
    },
    description="independent categorical per dimension, add-one prior (bits/dim baseline)",
    sampling=NoSamplingOptions,
)
