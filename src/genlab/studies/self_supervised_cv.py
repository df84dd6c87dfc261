"""Training steps chosen by k-fold cross-validation for the ``self_supervised`` study's
classifiers (see self_supervised.py), where a held-out validation part would be small.

The labelled subset is cut into ``folds`` stratified folds (scikit-learn's
``StratifiedKFold``, shuffled with ``seed``). Fold k's classifier trains with the one
trainer (:class:`genlab.train.Trainer`, no run folder) on the other folds, and its
weights (EMA when ``ema > 0``) are scored on fold k every ``every`` steps: accuracy and
mean cross-entropy. The folds advance in lockstep, each with its own RNG stream (so each
is the run it would be alone), and the learning rate is constant after its warm-up, so
one run scored every ``every`` steps gives the whole curve: the weights at step s are
those a run of s steps ends with. The search stops ``patience`` steps after the best
fold-mean score, or at ``cap``.

The chosen step count maximises the mean over folds of the held-out accuracy (the
quantity the study reports on test, estimated on held-out labelled images); ties go to
the lower mean cross-entropy, the finer-grained estimate of the same generalisation when
accuracies move in steps of one image (~0.7 points of the 143-image mean on digits at
10%), and then to the fewer steps. Then a classifier is trained on ALL the labelled
images for that many steps (same schedule, warm-up and EMA) into an ordinary run folder,
the one the study scores on test. The test split is never read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from genlab.runs import build_model, load_data, make_config, train_run
from genlab.runs.loading import trained_model
from genlab.studies.self_supervised_stopping import better, score_split
from genlab.train import Trainer, resolve_device
from genlab.train.seeding import get_rng_state, set_rng_state
from genlab.warm_start import warm_start

__all__ = [
    "CrossValidated",
    "StepSearch",
    "cross_validate_steps",
    "train_cross_validated",
    "train_steps",
]


@dataclass(frozen=True)
class StepSearch:
    """How the step count is cross-validated (steps; ``folds`` >= 2).

    ``every``: steps between held-out scores (also the grid of step counts);
    ``patience``: steps without a better fold-mean score before the search stops;
    ``cap``: the most steps a fold takes (well above where the search stops: the stop
    step is reported, and one ended by the cap says so); ``ema``: decay of the weights'
    moving average that is scored and kept (0: the raw weights); ``seed``: of the folds.
    """

    folds: int = 3
    every: int = 50
    patience: int = 400
    cap: int = 2000
    ema: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        assert self.folds >= 2 and self.every >= 10, (self.folds, self.every)
        assert self.patience >= self.every and self.cap >= self.every, (self.patience, self.cap)


@dataclass(frozen=True)
class CrossValidated:
    """How a step count was cross-validated: the chosen step (``best_step``, the steps of
    the final run on all labels), the step the search stopped at, whether ``cap`` stopped
    it, the fold-mean held-out accuracy in [0, 1] and cross-entropy (nats) at the chosen
    step, ``val_size`` labelled images scored in all (each once), and every fold-mean score
    ``(step, accuracy, loss)``; ``reused``: the steps were cross-validated on another
    labelled subset of the same size and reused here."""

    best_step: int
    stop_step: int
    capped: bool
    val_accuracy: float
    val_loss: float
    val_size: int
    folds: int
    history: list[tuple[int, float, float]] = field(default_factory=list)
    reused: bool = False


def _keys(overrides: Mapping[str, Any], device: str, search: StepSearch) -> dict[str, Any]:
    return {
        **overrides,
        "train.progress": False,
        "train.sample_every": 0,
        "train.device": device,
        "train.val_fraction": 0.0,  # the folds are the held-out parts
        "train.select": "last",
        "train.min_lr_ratio": 1.0,  # constant after warm-up: step s's weights = an s-step run's
        "train.warmup": search.every // 10,  # <= a tenth of any run of >= every steps
        "train.ema": search.ema,
    }


def cross_validate_steps(
    family: str, overrides: Mapping[str, Any], device: str, search: StepSearch
) -> CrossValidated:
    """Choose the steps of ``family`` trained with ``overrides`` on its labelled subset by
    ``search.folds``-fold cross-validation of that subset (module docstring)."""
    cfg = make_config(family, overrides={**_keys(overrides, device, search), "train.steps": 1})
    data = load_data(cfg.data)  # the labelled subset of TRAIN; the test split is not read
    assert data.train.y is not None
    where = resolve_device(cfg.train.device)
    trainers, held, states = [], [], []
    folds = StratifiedKFold(n_splits=search.folds, shuffle=True, random_state=search.seed)
    for fit_idx, out_idx in folds.split(np.zeros(len(data.train)), data.train.y.numpy()):
        part = replace(data, train=data.train.take(torch.from_numpy(np.sort(fit_idx))))
        model = build_model(cfg, data.meta)
        warm_start(model, trained_model)  # model.init: a pretrained encoder, else nothing
        trainers.append(Trainer(model, part, cfg.train, None, device=where))
        held.append(data.train.take(torch.from_numpy(np.sort(out_idx))))
        states.append(get_rng_state())  # each fold's own stream, seeded by its Trainer
    best: tuple[float, float] | None = None
    best_step, step, history = 0, 0, []
    while step < search.cap and (best is None or step - best_step < search.patience):
        step = min(search.cap, step + search.every)
        scores = []
        for k, trainer in enumerate(trainers):
            set_rng_state(states[k])
            trainer.cfg = replace(trainer.cfg, steps=step)  # fit() goes on to this step
            trainer.fit()
            states[k] = get_rng_state()
            scores.append(score_split(trainer.eval_model, held[k]))
        score = (float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores])))
        history.append((step, *score))
        if better(score, best):
            best, best_step = score, step
    assert best is not None
    capped = step >= search.cap and step - best_step < search.patience
    size = sum(len(h) for h in held)
    return CrossValidated(best_step, step, capped, *best, size, search.folds, history)


def train_cross_validated(
    family: str, overrides: Mapping[str, Any], run: Path, device: str, search: StepSearch
) -> CrossValidated:
    """Cross-validate the step count (:func:`cross_validate_steps`), then train ``family``
    on all its labelled images for that many steps into ``run`` (an ordinary run folder)."""
    chosen = cross_validate_steps(family, overrides, device, search)
    train_steps(family, overrides, run, device, search, chosen.best_step)
    return chosen


def train_steps(
    family: str,
    overrides: Mapping[str, Any],
    run: Path,
    device: str,
    search: StepSearch,
    steps: int,
) -> Path:
    """Train ``family`` on all its labelled images for ``steps`` steps into ``run``, with
    the schedule, warm-up and EMA of the folds ``search`` scored."""
    keys = {**_keys(overrides, device, search), "train.steps": steps}
    keys["train.ckpt_every"] = steps  # one checkpoint, at the end
    return train_run(make_config(family, overrides=keys), run, force=True)
