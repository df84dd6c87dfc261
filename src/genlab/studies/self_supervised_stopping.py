"""Early stopping of the ``self_supervised`` study's classifiers (see self_supervised.py).

A classifier run trains with the one trainer in chunks of ``every`` steps (each chunk
resumes the run: ``train.steps`` grows by ``every``; the learning rate is constant after
its warm-up, so growing ``train.steps`` leaves the schedule of the steps already taken
unchanged). After each chunk the run's weights (EMA when ``ema > 0``) are scored on the
validation part that the trainer holds out of the run's own training images
(``train.val_fraction`` of the labelled subset, drawn with ``train.seed``; the test split
is never read): accuracy, ties broken by the lower mean cross-entropy. A better score
copies the run folder to ``run``; the search stops ``patience`` steps after the best
score, or at ``cap`` steps. ``run`` is then an ordinary run folder of ``best_step``
steps, the one the study scores.

Accuracy, not the loss, chooses: on a few dozen validation images the mean loss follows
the confidence on the one or two images the model misreads (digits, 29 validation images:
from step 250 it rose from 0.32 to 0.6 while the accuracy on them stayed within 0.83-0.90).
The validation part is small where labels are few (one image is 3.4 points of accuracy on
digits at 10%), so where it stops is itself noisy; the stop step is reported.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genlab.data import Split
from genlab.runs import load_data, load_run, make_config, train_run
from genlab.train.validation import split_validation

__all__ = [
    "EarlyStopping",
    "Stopped",
    "better",
    "prediction_accuracy",
    "prediction_correct",
    "score_split",
    "train_early_stopped",
]

SEARCH_SUFFIX = ".search"  # the folder the chunks train in, beside the kept run


@dataclass(frozen=True)
class EarlyStopping:
    """When to score, stop and give up (steps), and the validation part's share.

    ``every``: steps between validation scores; ``patience``: steps without a better
    score before stopping; ``cap``: the most steps ever taken (set it well above where
    training stops: the stop step is reported, and one stopped by the cap says so);
    ``val_fraction``: share of the labelled subset held out to score on; ``ema``: decay of
    the weights' moving average that is scored and kept (0: the raw weights).
    """

    every: int = 50
    patience: int = 300
    cap: int = 3000
    val_fraction: float = 0.2
    ema: float = 0.99

    def __post_init__(self) -> None:
        assert self.every >= 10 and self.patience >= self.every, (self.every, self.patience)
        assert self.cap >= self.every and 0 < self.val_fraction < 1, (self.cap, self.val_fraction)


@dataclass(frozen=True)
class Stopped:
    """How an early-stopped run ended: the kept step, the step the search stopped at,
    whether ``cap`` stopped it, the kept weights' validation accuracy in [0, 1] and mean
    cross-entropy (nats) on ``val_size`` images, and every score ``(step, accuracy,
    loss)``."""

    best_step: int
    stop_step: int
    capped: bool
    val_accuracy: float
    val_loss: float
    val_size: int
    history: list[tuple[int, float, float]] = field(default_factory=list)


def better(score: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Whether ``(accuracy, loss)`` beats ``best``: higher accuracy, or the same accuracy
    and a lower loss."""
    return best is None or score[0] > best[0] or (score[0] == best[0] and score[1] < best[1])


@torch.no_grad()
def score_split(model: Any, split: Split, *, batch_size: int = 512) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy in nats) of a ``classifier`` model on
    ``split``, in eval mode (no augmentation, no dropout)."""
    device = next(model.parameters()).device
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(split), batch_size):
        x = split.x[start : start + batch_size].to(device)
        y = split.y[start : start + batch_size].to(device)
        logits = model.logits(model.encoder.centered(x))  # one pass for both scores
        correct += int((logits.argmax(1) == y).sum())
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
    return correct / len(split), loss / len(split)


def prediction_correct(
    model: Any, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512
) -> torch.Tensor:
    """bool (N,): whether ``model.predict`` (batched, eval mode) equals labels y (N,)."""
    device = next(model.parameters()).device
    model.eval()
    hits = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            predicted = model.predict(x[start : start + batch_size].to(device)).cpu()
            hits.append(predicted == y[start : start + batch_size].cpu())
    return torch.cat(hits)


def prediction_accuracy(
    model: Any, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512
) -> float:
    """Share in [0, 1] of ``model.predict`` (batched, eval mode) equal to labels y (N,)."""
    return float(prediction_correct(model, x, y, batch_size=batch_size).double().mean())


def train_early_stopped(
    family: str, overrides: Mapping[str, Any], run: Path, device: str, stop: EarlyStopping
) -> Stopped:
    """Train ``family`` with ``overrides`` into ``run``, stopped early (module docstring)."""
    search = run.with_name(run.name + SEARCH_SUFFIX)
    keys = {
        **overrides,
        "train.progress": False,
        "train.sample_every": 0,
        "train.device": device,
        "train.val_fraction": stop.val_fraction,
        "train.select": "last",  # this module selects, on accuracy
        "train.eval_every": stop.every,
        "train.ckpt_every": stop.every,
        "train.min_lr_ratio": 1.0,  # constant after warm-up: chunks add steps, not a schedule
        # at most a tenth of the first chunk, so the same warm-up in every chunk
        "train.warmup": stop.every // 10,
        "train.ema": stop.ema,
    }
    val: Split | None = None
    best: tuple[float, float] | None = None
    best_step, step, history = 0, 0, []
    while step < stop.cap and (best is None or step - best_step < stop.patience):
        step = min(stop.cap, step + stop.every)
        cfg = make_config(family, overrides={**keys, "train.steps": step})
        if val is None:
            val = _validation_part(cfg)
        train_run(cfg, search, resume=step > stop.every, force=step == stop.every)
        score = score_split(load_run(search, device=device).model, val)
        history.append((step, *score))
        if better(score, best):
            best, best_step = score, step
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(search, run)
    shutil.rmtree(search, ignore_errors=True)
    assert best is not None and val is not None
    capped = step >= stop.cap and step - best_step < stop.patience
    return Stopped(best_step, step, capped, best[0], best[1], len(val), history)


def _validation_part(cfg: Any) -> Split:
    """The part of the run's training images its trainer holds out (same function, same
    seed): the run's labelled subset, never the test split."""
    val = split_validation(load_data(cfg.data).train, cfg.train)[1]
    if val is None:
        raise ValueError(f"train.val_fraction={cfg.train.val_fraction} holds out no image")
    return val
