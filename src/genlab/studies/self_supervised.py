"""Study ``self_supervised``: do labels go further on a self-supervised encoder?

Three encoders with the same backbone (:class:`genlab.ssl.Encoder`) are pretrained on the
TRAIN split of the study's dataset (digits by default) without its labels: SimCLR (two
augmented views, NT-Xent; Chen et al. 2020), rotation prediction (Gidaris et al. 2018) and
masked-pixel reconstruction (a small MAE, He et al. 2022). Then, for each label fraction
(1%, 10%, 100% by default; the quick budgets leave 100% out: one class-balanced subset of
TRAIN per fraction, ``label_subset(train.y, f, seed=0)``, the same one that
``data.label_fraction=f data.seed=0`` trains on), every model is scored on the whole TEST
split:

- linear probe: multinomial logistic regression on the frozen embeddings of the labelled
  subset (C chosen by 3-fold cross-validation of that subset, never on test), for each
  pretrained encoder, for the same encoder untrained (random weights: what the backbone
  gives for free, a control the pretrained probe must beat) and for raw pixels (the
  baseline any representation must beat);
- fine-tuning: the ``classifier`` family started from a pretrained encoder
  (``model.init``), all weights trained on the labelled subset;
- from scratch: the same classifier, same labels, random initial weights.

Both classifiers train to convergence, their steps chosen on labelled images (never on
test): where early stopping would hold out under ``cv_below`` images, by 3-fold
cross-validation (:mod:`~genlab.studies.self_supervised_cv`), then a run on ALL its labels
for the chosen steps; else by early stopping (:mod:`~.self_supervised_stopping`). Under
:data:`MIN_PER_CLASS` labels in a class nothing is held out: ``finetune_steps`` fixed.

One pretrained encoder is compared, chosen before any test score is read: the one with
the best cross-validated probe accuracy on the 10% labelled subset 0 of TRAIN. At that
share the comparison is repeated on ``subsets`` label subsets (seeds 0, 1, ...).

Accuracies are shares of test images; the checks read paired differences (the same test
images scored by both) with the SE of :func:`~.self_supervised_evidence.subset_mean_se`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.metrics.embedding import embed_all
from genlab.metrics.probe import label_subset, probe_correct
from genlab.runs import load_run
from genlab.ssl import Encoder, EncoderConfig
from genlab.studies.base import Budget, Study, StudyResult, describe_data, say, train_quietly
from genlab.studies.checks import Check, Evidence, difference
from genlab.studies.datasets import DEFAULT_DATA, DataNeeds, settings_for
from genlab.studies.self_supervised_cv import CrossValidated, train_cross_validated, train_steps
from genlab.studies.self_supervised_evidence import Correct, Stop, Stops, evidence, subset_mean_se
from genlab.studies.self_supervised_report import (
    accuracy_table,
    curve_figure,
    pct,
    search_figure,
    simclr_views,
    stopping_table,
    summary,
    views_figure,
)
from genlab.studies.self_supervised_settings import SETTINGS, SSLSettings
from genlab.studies.self_supervised_stopping import (
    prediction_accuracy,
    prediction_correct,
    train_early_stopped,
)

__all__ = [
    "CLAIM_FRACTION",
    "CONTROLS",
    "METHODS",
    "MIN_PER_CLASS",
    "SETTINGS",
    "STUDY",
    "SSLSettings",
    "checks",
    "pct",
    "prediction_accuracy",
    "prediction_correct",
    "run",
    "subset_mean_se",
]

QUESTION = (
    "Does self-supervised pretraining on unlabelled images make few labels go further than "
    "training the same encoder from scratch on them?"
)
CLAIM = (
    "On {data}, with 10% of the training labels, a linear probe of the self-supervised "
    "encoder chosen by cross-validation on those labels (SimCLR, rotation or masked "
    "reconstruction) is at least one point more accurate on the test split than the same "
    "encoder trained from scratch on those labels to convergence, than the same encoder "
    "untrained, and than logistic regression on raw pixels."
)
METHODS = ("simclr", "rotation", "masked")  # pretraining families, in table order
CLAIM_FRACTION = 0.1
SEED = 0  # of the label subsets (data.seed)
MIN_PER_CLASS = 3  # labels per class below which nothing is held out (the probe's CV folds)
# The claim's minimal gain of the chosen probe over each comparison row, in accuracy (a share
# of test images): one point, the smallest gain a reader would call "labels go further"
# (digits: about one paired SE over its test split; Fashion-MNIST: ~3 SE at 10,000 images).
SCRATCH_MARGIN = 0.01
PIXELS_MARGIN = 0.01
UNTRAINED_MARGIN = 0.01
CONTROLS = {"scratch": SCRATCH_MARGIN, "pixels": PIXELS_MARGIN, "untrained": UNTRAINED_MARGIN}
REPEATED = ("best_probe", "pixels", "untrained", "scratch")  # rows scored on every subset

Features = dict[str, tuple[torch.Tensor, torch.Tensor]]  # row -> (train, test) features


def run(
    budget: Budget,
    out: Path,
    device: str,
    data: str = DEFAULT_DATA,
    settings: SSLSettings | None = None,
) -> StudyResult:
    """Run the study on ``data`` at ``budget`` (or with explicit ``settings``) into ``out``."""
    s = settings or settings_for(SETTINGS, data, budget)
    assert CLAIM_FRACTION in s.fractions, (CLAIM_FRACTION, s.fractions)
    assert s.classified is None or CLAIM_FRACTION in s.classified, s.classified
    dataset = load_dataset(data)
    runs, pretrain_s = _pretrain_all(s, data, out, device)
    features = _features(s, dataset, runs, device)
    correct, cv = _probe_all(s, dataset, features)
    best = max(METHODS, key=lambda m: cv[m][CLAIM_FRACTION] or 0.0)  # ties: METHODS order
    correct["best_probe"] = {f: list(hits) for f, hits in correct[best].items()}
    tuned = {"all": METHODS, "best": (best,), "none": ()}[s.finetune]
    stops = _classifiers_all(s, dataset, runs, tuned, correct, out, device)
    first = stops.get(f"scratch_{pct(CLAIM_FRACTION)}")
    stops |= _repeats(s, dataset, features, best, correct, out, device, first)
    counts, test = _label_counts(s, dataset), dataset.test
    ev = evidence(counts, correct, cv, stops, tuple(CONTROLS))
    ev |= {f"{m}_pretrain_s": seconds for m, seconds in pretrain_s.items()}
    acc = {row: {f: ev[f"{row}_accuracy_{pct(f)}"] for f in by_f} for row, by_f in correct.items()}
    return StudyResult(
        study="self_supervised",
        question=QUESTION,
        claim=CLAIM.format(data=data),
        checks=checks(ev),
        summary=summary(ev, best, s.fractions, CLAIM_FRACTION),
        evidence=ev,
        tables=[
            accuracy_table(acc, cv, pretrain_s, s.fractions, counts, CLAIM_FRACTION, len(test)),
            stopping_table(stops),
        ],
        figures=[
            curve_figure(acc, s.fractions, out, counts, data),
            views_figure(simclr_views(runs["simclr"], dataset.test, device, SEED), out, data),
            *([search_figure(stops, out, data)] if any(stops.values()) else []),
        ],
        protocol=_protocol(s, best, dataset),
    )


def checks(ev: Evidence) -> dict[str, Check]:
    """At the claim's share, the chosen probe's paired gain over each comparison row
    (``probe_minus_{row}_10pct``: mean over label subsets, SE by ``subset_mean_se``)
    against that row's margin."""
    key, share = pct(CLAIM_FRACTION), f"{100 * CLAIM_FRACTION:g}%"
    words = {
        "scratch": "the same encoder trained from scratch",
        "pixels": "logistic regression on raw pixels",
        "untrained": "a probe of the untrained encoder",
    }
    return {
        f"probe_beats_{row}": difference(
            ev,
            f"probe_minus_{row}_{key}",
            margin=margin,
            text=f"test accuracy of the chosen probe minus {words[row]}, {share} of the "
            f"labels (mean over label subsets) > {margin:g}",
        )
        for row, margin in CONTROLS.items()
    }


def _overrides(s: SSLSettings, steps: int, data: str) -> dict[str, Any]:
    return {"data.name": data, "data.seed": SEED, "train.steps": steps, **s.encoder}


def _pretrain_all(
    s: SSLSettings, data: str, out: Path, device: str
) -> tuple[dict[str, Path], dict[str, float]]:
    """Pretrain every method on unlabelled TRAIN; (run folders, seconds)."""
    runs, seconds = {}, {}
    for method in METHODS:
        say("self_supervised", f"pretraining {method} ({s.pretrain_steps} steps)")
        overrides = _overrides(s, s.pretrain_steps, data) | dict(s.pretrain.get(method, {}))
        start = time.perf_counter()
        runs[method] = train_quietly(method, overrides, out / "runs" / method, device)
        seconds[method] = time.perf_counter() - start
    return runs, seconds


def _features(s: SSLSettings, dataset: Any, runs: dict[str, Path], device: str) -> Features:
    """(train, test) features of every frozen representation: raw pixels, the untrained
    encoder, each pretrained one."""
    train, test = dataset.train, dataset.test
    features = {"pixels": (train.x.flatten(1).float(), test.x.flatten(1).float())}
    untrained = _untrained_encoder(s, dataset.meta).to(device)
    models = {"untrained": untrained} | {
        m: load_run(p, device=device).model for m, p in runs.items()
    }
    probed = s.probed(train.y, CLAIM_FRACTION, SEED)  # only these are embedded
    for name, model in models.items():
        tr = embed_all(model, train.x[probed])
        full = torch.full((len(train.x), tr.shape[1]), float("nan"))
        full[probed] = tr  # rows no probe reads stay NaN, so a stray read fails
        features[name] = (full, embed_all(model, test.x))
    return features


def _probe_all(
    s: SSLSettings, dataset: Any, features: Features
) -> tuple[Correct, dict[str, dict[float, float | None]]]:
    """Which test images each probe classifies correctly (label subset 0, per fraction)
    and each probe's train cross-validation accuracy."""
    train, test = dataset.train, dataset.test
    correct: Correct = {name: {} for name in features}
    cv: dict[str, dict[float, float | None]] = {name: {} for name in features}
    for f in s.fractions:
        keep = label_subset(train.y, f, seed=SEED)
        for name, (tr, te) in features.items():
            result, hits = probe_correct(tr[keep], train.y[keep], te, test.y)
            correct[name][f], cv[name][f] = [hits], result.cv_accuracy
        say("self_supervised", f"{pct(f)} labels ({len(keep)}): probes {_fmt(correct, f)}")
    return correct, cv


def _untrained_encoder(s: SSLSettings, meta: Any) -> Any:
    """The shared backbone with the study's options at its seeded random initialisation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return Encoder.from_config(_encoder_config(s), meta)


def _encoder_config(s: SSLSettings) -> Any:
    return EncoderConfig(**{k.removeprefix("model."): v for k, v in s.encoder.items()})


def _classifier(
    s: SSLSettings,
    dataset: Any,
    f: float,
    init: str,
    seed: int,
    run: Path,
    device: str,
    reuse: Stop = None,
) -> tuple[torch.Tensor, Stop]:
    """Train one classifier (``init``: a pretrained run to fine-tune, ``""``: from scratch)
    on label subset ``seed`` at fraction ``f``, its steps chosen by cross-validation when
    the held-out part would have fewer than ``cv_below`` images, else by early stopping,
    and fixed (``finetune_steps``) when a class has fewer than :data:`MIN_PER_CLASS`
    labels (``reuse``: steps cross-validated on subset 0, taken as they are when
    ``s.cv_once``); which test images it gets right, and how its steps were chosen."""
    keys = _overrides(s, s.finetune_steps, dataset.name) | dict(s.classifier)
    keys |= {"data.label_fraction": f, "data.seed": seed, "model.init": init}
    labels = dataset.train.y[label_subset(dataset.train.y, f, seed=seed)]
    held = round(s.stopping.val_fraction * len(labels))  # what early stopping would hold out
    stop: Stop = None
    if int(labels.bincount().min()) < MIN_PER_CLASS:
        train_quietly("classifier", keys, run, device)
    elif s.cv_once and isinstance(reuse, CrossValidated):
        stop = replace(reuse, reused=True)
        train_steps("classifier", keys, run, device, s.search, reuse.best_step)
    elif held < s.cv_below:
        stop = train_cross_validated("classifier", keys, run, device, s.search)
    else:
        stop = train_early_stopped("classifier", keys, run, device, s.stopping)
    model = load_run(run, device=device).model
    return prediction_correct(model, dataset.test.x, dataset.test.y), stop


def _classifiers_all(
    s: SSLSettings,
    dataset: Any,
    runs: dict[str, Path],
    tuned: tuple[str, ...],
    correct: Correct,
    out: Path,
    device: str,
) -> Stops:
    """The classifier fine-tuned from each of ``tuned`` and trained from scratch, on label
    subset 0 of every fraction in ``s.classified`` (the probes' subsets): adds to
    ``correct``."""
    starts: dict[str, str] = {f"finetune_{m}": str(runs[m]) for m in tuned} | {"scratch": ""}
    stops: Stops = {}
    for f in s.fractions if s.classified is None else s.classified:
        for name, init in starts.items():
            run = out / "runs" / f"{name}_{pct(f)}"
            hits, stops[f"{name}_{pct(f)}"] = _classifier(s, dataset, f, init, SEED, run, device)
            correct.setdefault(name, {})[f] = [hits]
        say("self_supervised", f"{pct(f)} labels: classifiers {_fmt(correct, f)}")
    return stops


def _repeats(
    s: SSLSettings,
    dataset: Any,
    features: Features,
    best: str,
    correct: Correct,
    out: Path,
    device: str,
    first: Stop,
) -> Stops:
    """At the claim's share, the rows of :data:`REPEATED` on label subsets 1..subsets-1
    (subset 0 is the table's, its scratch run's steps chosen as ``first``): appends to
    ``correct``."""
    f, key = CLAIM_FRACTION, pct(CLAIM_FRACTION)
    train, test = dataset.train, dataset.test
    probed = {"best_probe": best, "pixels": "pixels", "untrained": "untrained"}
    stops: Stops = {}
    for seed in range(1, s.subsets):
        keep = label_subset(train.y, f, seed=seed)
        for row, name in probed.items():
            tr, te = features[name]
            correct[row][f].append(probe_correct(tr[keep], train.y[keep], te, test.y)[1])
        run = out / "runs" / f"scratch_{key}_seed{seed}"
        hits, stop = _classifier(s, dataset, f, "", seed, run, device, first)
        stops[f"scratch_{key}_seed{seed}"] = stop
        correct["scratch"][f].append(hits)
        scores = ", ".join(f"{n} {float(correct[n][f][-1].double().mean()):.3f}" for n in REPEATED)
        say("self_supervised", f"{key} labels, subset {seed}: {scores}")
    return stops


def _label_counts(s: SSLSettings, dataset: Any) -> dict[float, int]:
    return {f: len(label_subset(dataset.train.y, f, seed=SEED)) for f in s.fractions}


def _fmt(correct: Correct, f: float) -> str:
    return ", ".join(
        f"{n} {float(v[f][0].double().mean()):.3f}" for n, v in correct.items() if f in v
    )


def _protocol(s: SSLSettings, best: str, dataset: Dataset) -> dict[str, Any]:
    """How the numbers were measured; the data's facts read off ``dataset``."""
    stop, search = s.stopping, s.search
    return {
        "data": f"{describe_data(dataset)}: pretraining on TRAIN without labels (its "
        "family's held-out tenth of TRAIN selects the weights); every accuracy on the "
        f"whole TEST split ({len(dataset.test)} images)",
        "label_subsets": f"class-balanced, nested, label_subset(train.y, f, seed={SEED}) = "
        f"data.label_fraction=f data.seed={SEED}",
        "encoder": asdict(_encoder_config(s)),
        "pretrain_steps": s.pretrain_steps,
        "pretrain_overrides": "; ".join(
            f"{m}: " + ", ".join(f"{k}={v}" for k, v in keys.items())
            for m, keys in s.pretrain.items()
        )
        or "none (family defaults)",
        "classifier": "classifier family (augmented batches), fine-tuned: model.init="
        "<pretrained run>, from scratch: no init; trained at "
        + ", ".join(f"{100 * f:g}%" for f in (s.classified or s.fractions))
        + " of the labels; constant learning rate after warm-up, weights' EMA scored and "
        f"kept. Steps: where early stopping would hold out fewer than {s.cv_below} images, "
        f"{search.folds}-fold stratified cross-validation of the labelled subset (folds "
        f"seeded {search.seed}, each held-out fold scored every {search.every} steps, "
        f"stopped {search.patience} steps after the best fold-mean accuracy, ties: lower "
        f"mean cross-entropy, cap {search.cap}; EMA {search.ema:g}), then a run on all the "
        "labelled images for the chosen steps; else early stopping on "
        f"{100 * stop.val_fraction:g}% of the subset held out (train.seed), scored every "
        f"{stop.every} steps, stopped {stop.patience} steps after the best, cap {stop.cap}, "
        f"EMA {stop.ema:g}; the best weights kept. Fewer than {MIN_PER_CLASS} labels in a "
        f"class: a fixed {s.finetune_steps} steps on all of them",
        "classifier_overrides": ", ".join(f"{k}={v}" for k, v in s.classifier.items()) or "none",
        "probe": "logistic regression on standardised frozen features of the labelled "
        f"subset, C by 3-fold CV on it (C = 1 with fewer than {MIN_PER_CLASS} labels per class)",
        "best_method": f"{best} (highest cross-validated probe accuracy on label subset "
        f"{SEED} at {100 * CLAIM_FRACTION:g}% of the labels, chosen before any test score is "
        "read; the other methods' probes are reported, never compared)",
        "fine_tuned": {"all": list(METHODS), "best": [best], "none": []}[s.finetune],
        "seed": SEED,
        "claim_subsets": f"at {100 * CLAIM_FRACTION:g}% of the labels the chosen probe, the "
        f"untrained probe, raw pixels and the scratch classifier are scored on label subsets "
        f"0..{s.subsets - 1} (data.seed); the checks read the means over them"
        + ("; the scratch steps cross-validated on subset 0 reused on the others" * s.cv_once),
        "standard_errors": "paired per test image (the same images scored by both rows); "
        "over several label subsets the SE over test images of the per-image mean and the "
        "SE of the mean over subsets, in quadrature",
        "margins": ", ".join(f"probe - {r} > {m:g}" for r, m in CONTROLS.items()),
    }


STUDY = Study(
    "self_supervised",
    QUESTION,
    CLAIM.format(data="the study's dataset"),
    run,
    DataNeeds(classes=2, why="probes and classifiers are scored on its labels"),
    cost=3.5,
    costs={"fashion-mnist": 14.8},  # measured in the report of 2026-12-07 18:54 (2 jobs, 2 cores)
)
