"""Settings of the ``self_supervised`` study (see self_supervised.py): steps, label
fractions and overrides, by dataset then budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from genlab.metrics.probe import label_subset
from genlab.studies.datasets import GENERIC
from genlab.studies.self_supervised_cv import StepSearch
from genlab.studies.self_supervised_stopping import EarlyStopping

__all__ = ["SETTINGS", "SSLSettings"]


@dataclass(frozen=True)
class SSLSettings:
    """Steps of pretraining and of the classifier runs (fine-tuned or from scratch).

    A classifier run's steps are chosen on its own labelled subset: by ``search``
    (k-fold cross-validation, :mod:`~genlab.studies.self_supervised_cv`) when the part
    ``stopping`` would hold out has fewer than ``cv_below`` images, else by ``stopping``
    (early stopping on that held-out part); ``finetune_steps``: the fixed steps of a run
    whose subset has too few labels per class for either. ``classified``: the label
    fractions at which classifiers (fine-tuned and from scratch) are trained (None: all
    of ``fractions``); the probes are scored at every fraction. ``cv_once``: at the claim's
    share, the scratch steps cross-validated on label subset 0 are reused on the other
    subsets (a choice made on subset 0's labels, never on test) instead of
    cross-validating each. ``encoder`` are backbone
    keys shared by every run (``model.channels``...), so each pretrained encoder fits the
    classifier; ``pretrain`` are extra keys per family (``{"rotation":
    {"train.batch_size": 64}}``). ``finetune``: ``best`` fine-tunes only the pretrained
    encoder chosen by cross-validation, ``all`` each one, ``none`` none (no check reads
    the fine-tuned rows).
    """

    pretrain_steps: int
    finetune_steps: int
    finetune: Literal["best", "all", "none"] = "all"
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    encoder: Mapping[str, Any] = field(default_factory=dict)
    pretrain: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    classifier: Mapping[str, Any] = field(default_factory=dict)
    subsets: int = 3  # label subsets (seeds 0..subsets-1) at the claim's share
    stopping: EarlyStopping = field(default_factory=EarlyStopping)
    search: StepSearch = field(default_factory=StepSearch)
    cv_below: int = 200  # held-out images below which the steps are cross-validated
    classified: tuple[float, ...] | None = None
    cv_once: bool = False

    def probed(self, labels: torch.Tensor, claim: float, seed: int) -> torch.Tensor:
        """Indices of the train images some probe reads: every fraction's subset ``seed``
        and the ``claim`` share on the next ``subsets - 1`` subsets (embedding only these,
        not all of TRAIN, saves ~3 of the study's 24 minutes on Fashion-MNIST)."""
        parts = [label_subset(labels, f, seed=seed) for f in self.fractions]
        parts += [label_subset(labels, claim, seed=seed + k) for k in range(1, self.subsets)]
        return torch.cat(parts).unique()


# Settings by dataset, then budget; GENERIC serves any other image data.
#
# Fashion-MNIST quick, before early stopping (a report on 2 CPU cores, 60 minutes): 20.5 min
# alone with the other core busy. Pretraining 250 steps ~10 min (SimCLR at 64 images 1.7,
# rotation at 128 x 4 rotations 6.6, masked at 128 1.5); embedding 70,000 images with each of
# 4 encoders and the probes ~5.6; 7 classifier runs of 150 x 64 ~5 (~0.28 s a step). Now
# (estimated, not measured): the 3% share and the fine-tuned rows are gone (-5 min with the
# 3% probes), the untrained probe on subset 1 is added (~+0.5), and classifiers are trained at
# 10% only (1% would hold out 120 images: 3-fold CV, ~4 runs' worth, unaffordable here): 2
# early-stopped scratch runs (1,000 held-out images each, of 6,000 labels) of at most 600
# steps x 64 (~0.28 s a step, and a pass over 1,000 validation images every 100 steps) take
# at most ~6 min: ~21 min in all. 600 steps are 8 epochs of the 4,800 training images; the
# cap may still be what ends them (the stopping table says); convergence there needs the
# full budget. Label shares 1-10%: the pixel probe's C search on all 60,000 labels takes
# ~17 min alone.
# rotation at 32 x 4 rotated images a step (128, as digits): at 128 x 4 it took 630 of the
# study's 1436 s in the report of 2026-12-07, four times the other methods' images a step
BATCHES = {"simclr": 64, "rotation": 32, "masked": 128}
FASHION = {
    "quick": SSLSettings(
        pretrain_steps=250,
        finetune_steps=150,
        finetune="none",
        fractions=(0.01, 0.1),
        classified=(0.1,),
        pretrain={m: {"train.batch_size": b} for m, b in BATCHES.items()},
        classifier={"train.batch_size": 64},
        subsets=2,
        stopping=EarlyStopping(every=100, patience=200, cap=600),
    ),
    "full": SSLSettings(pretrain_steps=3000, finetune_steps=1000),  # to be tuned
}
# Digits quick: at 10% of the labels (143) early stopping would hold out 29 images (one = 3.4
# points; with 300 steps of patience it kept steps 100-250), so the scratch classifier's steps
# are cross-validated on 3 folds of the 143 (every image held out once). To pay for the folds
# (3 runs to where the search stops, then one run on all labels per label subset) the
# fine-tuned rows and the 1% classifiers (1-2 labels per class: fixed steps,
# nothing to choose them on) are left to the full budget (they carry no check), as is 100%.
# Measured (one core, machine shared): 3-fold CV of subset 0 at the family's lr 1e-3, run to a
# 2000 cap (196 CPU-s): the fold mean flat at 0.93-0.944 from 100 to 1200 steps, then 0.951 at
# 1350 and 0.958 at 1900 (patience 400 stopped at 800 keeping 400; study 241 CPU-s). At lr 3e-3
# (1000 cap, 97 CPU-s): 0.944 at 500, 0.958 at 750, 0.965 at 850-950. Both read off the folds
# of subset 0's labels, never test: lr 3e-3, the whole range to 1000 searched (no patience:
# the curve is flat for hundreds of steps before it climbs), and the steps chosen on subset 0
# reused on subset 1 (a second search would cost ~100 s more). Whole study: 220 CPU-s measured
# (kept 950 steps, the search ended by its cap, still rising slowly). The full budget
# cross-validates every subset, at the family's lr, up to 4000 steps.
SETTINGS: dict[str, dict[str, SSLSettings]] = {
    "digits": {
        "quick": SSLSettings(
            pretrain_steps=500,  # 1.9 min measured on one core
            finetune_steps=200,
            finetune="none",
            fractions=(0.01, 0.1),
            classified=(0.1,),
            subsets=2,
            pretrain={
                # a short run contrasts better at a softer temperature (train CV of the probe
                # at 10% labels: 0.98 at 0.5 against 0.94 at the family's 0.2, for long runs)
                "simclr": {"train.batch_size": 128, "model.temperature": 0.5},  # 256 views
                "rotation": {"train.batch_size": 32},  # 128 rotated images
                "masked": {"train.batch_size": 128},
            },
            classifier={"train.lr": 3e-3},  # the scratch rows only: none fine-tuned here
            search=StepSearch(folds=3, every=50, patience=1000, cap=1000),
            cv_once=True,
        ),
        "full": SSLSettings(
            pretrain_steps=3000,
            finetune_steps=1000,
            search=StepSearch(folds=3, every=50, patience=1000, cap=4000),
        ),
    },
    "fashion-mnist": FASHION,
    GENERIC: FASHION,
}
