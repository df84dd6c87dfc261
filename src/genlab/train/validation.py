"""Validation during training: a part held out from train, and the score it gives.

Model selection never looks at the test split: the validation part is drawn from
train with ``train.seed`` (``train.val_fraction``, at most ``train.val_max`` images).
A generative model is scored in bits/dim of the discrete data (its cheaper
``validation_nll`` when it declares one), any other model by its mean loss.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import nn
from tqdm import tqdm

from genlab.config import TrainConfig
from genlab.data.dataset import DataMeta, Split
from genlab.protocols import GenerativeModel, ValidationScored

__all__ = ["selection_score", "split_validation", "validation_score"]

CHUNK = 512  # images scored at once


def split_validation(train: Split, cfg: TrainConfig) -> tuple[Split, Split | None]:
    """(training part, validation part or None), held out from train with train.seed."""
    if cfg.val_fraction <= 0:
        return train, None
    rest, val = train.holdout(cfg.val_fraction, cfg.seed, cfg.val_max)
    return rest, (val if len(val) else None)


def selection_score(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What validation scores a model by: per-example nats (N,) of a generative model,
    its cheaper ``validation_nll`` when it offers one, else None (its mean loss)."""
    if isinstance(model, ValidationScored):
        return model.validation_nll
    if isinstance(model, GenerativeModel):
        return model.nll
    return None


@torch.no_grad()
def validation_score(
    model: nn.Module,
    val: Split,
    meta: DataMeta,
    *,
    step: int,
    seed: int,
    rng_devices: list[int],
    progress: bool,
) -> tuple[str, float]:
    """``("bpd", bits/dim)`` of a generative model on ``val``, else ``("loss", mean loss)``.

    The same noise at every evaluation (``seed``), drawn from a forked RNG so training's
    streams are untouched; the model is in eval mode meanwhile.
    """
    score = selection_score(model)
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    bar = tqdm(
        total=len(val),
        desc=f"validate ({len(val)} images)",
        unit="img",
        leave=False,
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 15.0,
        delay=1.0,
    )
    with bar, torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        for start in range(0, len(val), CHUNK):
            x = val.x[start : start + CHUNK]
            y = None if val.y is None else val.y[start : start + CHUNK]
            if score is not None:
                total += float(score(x).sum()) / (meta.dims * math.log(2.0))
            else:
                total += float(model.loss(x, y, step=step)[0]) * len(x)
            n += len(x)
            bar.update(len(x))
    model.train(was_training)
    return ("loss" if score is None else "bpd"), total / n
