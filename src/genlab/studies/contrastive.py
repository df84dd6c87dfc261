"""Study ``contrastive``: does a metric embedding learnt on some classes rank classes it
never saw?

The ``triplet`` family is trained on classes 0-4 of the study's dataset (digits by
default; at least 10 classes), its weights chosen on a validation part held out from the
TRAIN images of those classes, never on classes 5-9, with the triplet margin loss
``relu(d(a,p) - d(a,n) + margin)`` (Schroff et al. 2015, Eq. 1) under each miner
(random, batch-hard, batch-all, semi-hard; Hermans et al. 2017) and margin, with the
supervised NT-Xent (Khosla et al. 2020, Eq. 2), and with the family's class-free terms
(input-geometry anchor, jitter-view invariance) switched off or on (ablations). Each
embedding is scored by leave-one-out retrieval (Recall@1, MAP@R; Musgrave et al. 2020,
Sec. 3.2) among the TEST images of the seen classes 0-4 and of the unseen classes 5-9,
next to raw pixels and the same network untrained (random init, same seed) as reference
rows.

Each question gets its configuration chosen before any test image is read, on
validation numbers of the same kind as its test (class-disjoint where the question is
about unseen classes). Unseen classes: each configuration is also trained on classes
0-2 and scored by MAP@R among the TRAIN images of classes 3-4 (class-disjoint
validation, Musgrave et al. 2020, Sec. 3.3); the highest is ``selected_unseen``. Seen
classes: each run on 0-4 is scored by MAP@R among the part of the TRAIN images of 0-4
its trainer held out (the same part for every row, the one its weights were chosen on;
no extra training); the highest is ``selected_seen``. The family's defaults were chosen
on class-disjoint folds (benchmarks/triplet_defaults.py).

The checks compare the selected embedding with each reference on the same test images:
the per-query AP@R differences, their mean and its standard error over queries (paired).
Seen classes 0-4 are where the triplet loss acts (positives pulled in, negatives pushed
past the margin): there ``selected_seen`` must beat raw pixels and the untrained network
by :data:`SEEN_GAIN`. On the unseen classes 5-9 ``selected_unseen`` must beat both at
all (:data:`UNSEEN_GAIN`).

Why it can fail: the loss is zero once every seen class sits in its own tight cluster,
and nothing in it asks the directions that separate 0-4 to separate 5-9 as well; an
embedding that only fits the seen classes ranks the unseen ones worse than the pixels it
started from, and a random convolutional network can already rank better than pixels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.metric.geometry import pair_distances
from genlab.runs import build_model, load_data, load_run, make_config
from genlab.studies.base import Budget, Study, StudyResult, say, train_quietly
from genlab.studies.checks import Check, Evidence, difference
from genlab.studies.contrastive_report import (
    distances_figure,
    figure_sets,
    label_of,
    retrieval_figure,
    retrieval_table,
    summary,
    tsne_figure,
)
from genlab.studies.contrastive_scores import (
    REFERENCES,
    VALIDATION,
    Sets,
    embedded,
    evidence,
    paired,
    protocol,
    scores,
)
from genlab.studies.curves import read_curves
from genlab.studies.datasets import DEFAULT_DATA, GENERIC, DataNeeds, settings_for
from genlab.train.validation import split_validation

__all__ = [
    "ABLATIONS",
    "SEEN",
    "SEEN_GAIN",
    "SETTINGS",
    "STUDY",
    "UNSEEN",
    "UNSEEN_GAIN",
    "VALIDATION",
    "VAL_QUERY",
    "VAL_TRAIN",
    "ContrastiveSettings",
    "checks",
    "configurations",
    "paired",
    "run",
    "select",
]

QUESTION = "Does a metric embedding learnt on some classes rank classes it never saw?"
CLAIM = (
    "Trained with the triplet family on classes 0-4 of {data}, the embedding separates the "
    "classes it saw: test MAP@R on classes 0-4 at least 0.05 above raw pixels' and above "
    "the same network untrained (the configuration chosen on held-out train images of "
    "0-4); and it ranks the test images of the never-seen classes 5-9 better than both "
    "(the configuration chosen by class-disjoint validation inside 0-4: trained on 0-2, "
    "retrieval among the train images of 3-4)."
)
SEEN = (0, 1, 2, 3, 4)
UNSEEN = (5, 6, 7, 8, 9)
VAL_TRAIN, VAL_QUERY = (0, 1, 2), (3, 4)  # class-disjoint validation inside SEEN
# MAP@R (a share in [0, 1]) that training must add on the classes it was trained on: the
# loss acts there, so "separates" means clearly; 0.05 is twice the gain the issue calls
# "barely" (Fashion-MNIST 0.369 against pixels' 0.344) and ~7% of pixels' seen MAP@R.
SEEN_GAIN = 0.05
# MAP@R on classes the loss never saw: any gain over the reference is the claim (its
# sign); the 2-SE rule of the checks alone keeps noise from deciding it.
UNSEEN_GAIN = 0.0
MINERS = ("random", "batch_hard", "batch_all", "semi_hard")
# the class-free terms around the defaults (no jitter, anchor 50): the triplet loss alone,
# the jitter-view term added (the family's defaults before the validation search) and the
# view term without the anchor; every key spelt out, so a row means the same whatever
# the defaults
ABLATIONS: dict[str, dict[str, Any]] = {
    "plain": {"model.anchor": 0.0, "model.augment": False, "model.invariance": 0.0},
    "with_invariance": {"model.augment": True, "model.invariance": 50.0},
    "invariance_only": {"model.anchor": 0.0, "model.augment": True, "model.invariance": 50.0},
}


@dataclass(frozen=True)
class ContrastiveSettings:
    """Training steps of every run, the margins tried with each miner (in units of the
    family's distance; Euclidean on the unit sphere by default, so in [0, 2]) and
    overrides applied to every run (``(key, value)``)."""

    train_steps: int
    margins: tuple[float, float] = (0.2, 0.5)
    miners: tuple[str, ...] = MINERS
    overrides: tuple[tuple[str, Any], ...] = ()


# Settings by dataset, then budget; GENERIC serves other images. Fashion-MNIST quick:
# 5 configurations (defaults, NT-Xent, 3 ablations) x 2 runs of 150 x 64, two of them with
# jitter views; 18.7 min before with six, four with views (about 1.6x the cost of a run
# without): about 13-14 min now (estimate, not measured).
QUICK = (("train.batch_size", 128), ("train.eval_every", 50))  # overrides at the quick budget
FASHION = {
    "quick": ContrastiveSettings(
        150, (0.2,), (), (("train.batch_size", 64), ("train.eval_every", 50))
    ),
    "full": ContrastiveSettings(train_steps=2000),  # to be tuned
}
SETTINGS: dict[str, dict[str, ContrastiveSettings]] = {
    "digits": {
        # one margin, one miner besides the defaults': 6 configurations, under 2.3 min on
        # one core (two of them with jitter views, four before)
        "quick": ContrastiveSettings(200, (0.2,), ("batch_hard",), QUICK),
        "full": ContrastiveSettings(train_steps=2000),
    },
    "fashion-mnist": FASHION,
    GENERIC: FASHION,
}


def configurations(s: ContrastiveSettings) -> dict[str, dict[str, Any]]:
    """Row name -> model overrides: each miner with each margin, NT-Xent, then the
    ablations of the class-free terms (:data:`ABLATIONS`)."""
    rows = {
        f"{miner}_m{margin:g}": {
            "model.loss": "triplet",
            "model.miner": miner,
            "model.margin": margin,
        }
        for miner in s.miners
        for margin in s.margins
    }
    rows["ntxent"] = {"model.loss": "ntxent"}
    return rows | ABLATIONS


def run(
    budget: Budget,
    out: Path,
    device: str,
    data: str = DEFAULT_DATA,
    settings: ContrastiveSettings | None = None,
) -> StudyResult:
    """Run the study on ``data`` at ``budget`` (or with explicit ``settings``) into ``out``."""
    s = settings or settings_for(SETTINGS, data, budget)
    base = {"data.name": data, "data.classes": SEEN, "train.steps": s.train_steps}
    base |= dict(s.overrides)
    configs = configurations(s)
    default = _default_row(base, configs)
    if default not in configs:
        configs = {default: {}, **configs}
    default_cfg = make_config("triplet", overrides=base)
    dataset = load_dataset(data)
    sets, val = _image_sets(dataset, default_cfg)
    rows: dict[str, dict[str, float | None]] = {}
    aps: dict[str, dict[str, torch.Tensor]] = {}
    rows["pixels"], aps["pixels"] = scores(None, sets | val, None)
    untrained = _untrained(default_cfg, device)
    rows["untrained"], aps["untrained"] = scores(untrained, sets | val, default_cfg.model)
    models: dict[str, Any] = {}
    for name, over in configs.items():
        say("contrastive", f"training {name} on classes 0-2 for validation, then 0-4")
        trained = _train_row(name, {**base, **over}, default_cfg, (sets, val), out, device)
        rows[name], aps[name], models[name] = trained
        r = rows[name]
        say("contrastive", f"{name:18s} val MAP@R seen {r['seen_val_map_at_r']:.3f}, "
            f"class-disjoint {r['unseen_val_map_at_r']:.3f}")  # fmt: skip
    # validation numbers only: held-out train images of 0-4, train images of 3-4
    picks = {q: select(rows, configs, default, on=v) for q, v in VALIDATION.items()}
    ev = evidence(rows, aps, default, picks)
    shown = figure_sets(sets)
    figures = _figures(untrained, models, shown, default_cfg, configs, default, picks, ev, out)
    names = {q: f"{label_of(row, configs[row])} [row {row}]" for q, row in picks.items()}
    return StudyResult(
        study="contrastive",
        question=QUESTION,
        claim=CLAIM.format(data=data),
        summary=summary(ev, default, picks, configs),
        evidence=ev,
        checks=checks(ev, names),
        tables=[retrieval_table(rows, configs, default, picks, data)],
        figures=figures,
        protocol=protocol(s, default_cfg, default, picks, dataset, sets | val),
    )


def checks(ev: Evidence, rows: Mapping[str, str] | None = None) -> dict[str, Check]:
    """The claim's checks: paired MAP@R differences over the same test queries
    (``selected_Q_minus_REF_Q_map_at_r`` with its SE), the seen classes' read off the row
    chosen on seen-class validation, the unseen classes' off the class-disjoint one;
    ``rows``: each question's row as the texts name it ({"seen": ..., "unseen": ...})."""
    rows = rows or {}
    where = {"seen": ("classes 0-4 (seen)", SEEN_GAIN), "unseen": ("classes 5-9", UNSEEN_GAIN)}
    how = {"seen": "held-out train images of 0-4", "unseen": "class-disjoint validation"}
    names = {"pixels": "raw pixels", "untrained": "the untrained network"}
    out = {}
    for split, (classes, margin) in where.items():
        row = rows.get(split, f"the row selected_{split}")
        for ref in REFERENCES:
            out[f"{split}_above_{ref}"] = difference(
                ev,
                f"selected_{split}_minus_{ref}_{split}_map_at_r",
                margin=margin,
                text=f"test MAP@R on {classes}: {row}, chosen on {how[split]}, minus "
                f"{names[ref]} (paired over queries) > {margin:g}",
            )
    return out


def select(
    rows: dict[str, dict[str, float | None]],
    configs: dict[str, dict[str, Any]],
    default: str,
    *,
    on: str,
) -> str:
    """The configuration with the highest MAP@R on the validation set ``on`` (one of
    :data:`VALIDATION`'s); ties go to the defaults, then in order. Reads
    ``{on}_map_at_r`` only: no test number can change the choice."""
    assert on in VALIDATION.values(), on
    order = [default, *[n for n in configs if n != default]]
    return max(order, key=lambda n: rows[n][f"{on}_map_at_r"] or 0.0)


def _figures(
    untrained: Any,
    models: dict[str, Any],
    sets: Sets,
    cfg: Any,
    configs: dict[str, dict[str, Any]],
    default: str,
    picks: dict[str, str],
    ev: dict[str, float | None],
    out: Path,
) -> list[Any]:
    """Distance histograms and t-SNE maps of the defaults' run, the selected ones and
    the plain triplet loss's (when trained), and the retrieval bars."""
    shown = {"untrained network": untrained}
    for row in dict.fromkeys(("plain", default, picks["seen"], picks["unseen"])):
        if row in models:
            marks = [q for q, r in picks.items() if r == row]
            mark = f" [selected: {', '.join(marks)}]" if marks else ""
            shown[label_of(row, configs[row]) + mark] = models[row]
    pairs = {
        (split, state): pair_distances(*embedded(model, sets[split], cfg.model))
        for split in ("seen", "unseen")
        for state, model in shown.items()
    }
    maps = {"raw pixels": sets["unseen"][0].flatten(1).double()}
    maps |= {state: embedded(model, sets["unseen"], cfg.model)[0] for state, model in shown.items()}
    names = ["pixels", "untrained", *configs]
    return [
        distances_figure(pairs, list(shown), cfg.model.margin, out),
        tsne_figure(maps, sets["unseen"][1], out),
        retrieval_figure(ev, names, configs, out),
    ]


def _train_row(
    name: str, cfg: dict[str, Any], held_cfg: Any, images: tuple[Sets, Sets], out: Path, device: str
) -> tuple[dict[str, float | None], dict[str, torch.Tensor], Any]:
    """One configuration ``cfg`` (overrides of a run on classes 0-4): trained on 0-2 and
    scored on ``unseen_val``, then on 0-4 and scored on the test sets and ``seen_val``
    (``images``: both, from :func:`_image_sets` with ``held_cfg``). Returns its numbers,
    its per-query test AP@R and the model trained on 0-4."""
    sets, val = images
    path = train_quietly(
        "triplet", {**cfg, "data.classes": VAL_TRAIN}, out / "runs" / f"val_{name}", device
    )
    loaded = load_run(path, device=device)
    row, _ = scores(loaded.model, {"unseen_val": val["unseen_val"]}, loaded.config.model)
    start = time.perf_counter()
    path = train_quietly("triplet", cfg, out / "runs" / name, device)
    seconds = time.perf_counter() - start
    loaded = load_run(path, device=device)
    c, h = loaded.config, held_cfg  # the run held out the images seen_val holds
    same = [
        (replace(x.data, data_dir=None), x.train.seed, x.train.val_fraction, x.train.val_max)
        for x in (c, h)
    ]  # a run records the absolute data folder it read; the images are the same
    assert same[0] == same[1], same
    held = {"seen_val": val["seen_val"]}
    test, aps = scores(loaded.model, sets | held, loaded.config.model)
    return row | test | _log_stats(path) | {"train_s": seconds}, aps, loaded.model


def _default_row(base: dict[str, Any], configs: dict[str, dict[str, Any]]) -> str:
    """The row whose model config equals the family's defaults (``defaults`` if none)."""
    default = make_config("triplet", overrides=base).model
    for name, over in configs.items():
        if make_config("triplet", overrides={**base, **over}).model == default:
            return name
    return "defaults"


def _image_sets(dataset: Dataset, cfg: Any) -> tuple[Sets, Sets]:
    """(images, labels) of the seen and unseen test images, and the two validation sets:
    ``seen_val``, the part of the TRAIN images of classes 0-4 that the trainer of the
    config ``cfg`` (the runs on 0-4) holds out, never trained on; ``unseen_val``, the TRAIN
    images of classes 3-4, which the validation runs (classes 0-2) never see."""
    seen, unseen = dataset.restrict_classes(SEEN), dataset.restrict_classes(UNSEEN)
    query = dataset.restrict_classes(VAL_QUERY).train
    held = split_validation(load_data(cfg.data).train, cfg.train)[1]
    if held is None or held.y is None:
        raise ValueError(f"train.val_fraction={cfg.train.val_fraction} holds out no image")
    assert seen.test.y is not None and unseen.test.y is not None and query.y is not None
    assert set(held.y.tolist()) <= set(SEEN), sorted(set(held.y.tolist()))
    sets = {"seen": (seen.test.x, seen.test.y), "unseen": (unseen.test.x, unseen.test.y)}
    return sets, {"seen_val": (held.x, held.y), "unseen_val": (query.x, query.y)}


def _untrained(cfg: Any, device: str) -> Any:
    """The triplet network as the trainer builds it (same seed), before any step."""
    return build_model(cfg, load_data(cfg.data).meta).to(device).eval()


def _log_stats(run: Path) -> dict[str, float | None]:
    """The mined active-triplet share of the last logged steps and the selected step."""
    best = read_curves(run, "loss").best_val()
    return {
        "active_fraction": read_curves(run, "active_fraction").last_train(),
        "selected_step": None if best is None else float(best[0]),
    }


STUDY = Study(
    "contrastive",
    QUESTION,
    CLAIM.format(data="the study's dataset"),
    run,
    DataNeeds(classes=10, why="it trains on classes 0-4 and retrieves classes 5-9"),
    cost=1.8,
    costs={"fashion-mnist": 16.4},  # measured in the report of 2026-12-07 18:54 (2 jobs, 2 cores)
)
