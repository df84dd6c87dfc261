"""Study ``contrastive``: does a metric embedding learnt on some classes rank classes it
never saw?

The ``triplet`` family is trained on classes 0-4 of the study's dataset (digits by
default; at least 10 classes), its weights chosen on a validation part held out from the
TRAIN images of those classes, never on classes 5-9, with the triplet margin loss
``relu(d(a,p) - d(a,n) + margin)`` (Schroff et al. 2015, Eq. 1) under each miner
(random, batch-hard, batch-all, semi-hard; Hermans et al. 2017) and two margins, and
with the supervised NT-Xent (Khosla et al. 2020, Eq. 2). Each embedding is scored by
leave-one-out retrieval among the TEST images of the unseen classes 5-9 (Recall@1,
MAP@R; Musgrave et al. 2020, Sec. 3.2), and among those of the seen classes 0-4, next to
raw pixels and the untrained network as reference rows.

Why it can fail: the loss is zero once every seen class sits in its own tight cluster,
and nothing in it asks the directions that separate 0-4 to separate 5-9 as well. On
8x8 digits, raw pixels are already a strong metric (Recall@1 about 0.97 on the unseen
classes), so an embedding that only fits the seen classes ranks the unseen ones worse
than the pixels it started from. The family's defaults add two terms that do not depend
on the classes: an anchor to the input geometry (the stress between embedding and pixel
distances of the batch) and invariance to small jitter (two jittered views of an image
pulled together). The ablation rows drop each term, and both, from the defaults.

Configurations are compared the way the test compares them, but inside the seen classes
only: each is also trained on classes 0-2 and scored by retrieval among the TRAIN images
of classes 3-4 (class-disjoint validation, Musgrave et al. 2020, Sec. 3.3). Held-out
images of the training classes cannot make this choice: every configuration separates
those (validation MAP@R near 1), the plain triplet loss best of all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.metric.geometry import margin_satisfied, pair_distances
from genlab.metrics.distances import as_distance
from genlab.metrics.embedding import embed_all
from genlab.metrics.retrieval import retrieval_scores
from genlab.runs import build_model, load_data, load_run, make_config
from genlab.studies.base import (
    Budget,
    Study,
    StudyResult,
    describe_data,
    say,
    train_quietly,
    verdict_of,
)
from genlab.studies.checks import Evidence, all_of, at_least, greater
from genlab.studies.contrastive_report import (
    distances_figure,
    figure_sets,
    label_of,
    retrieval_figure,
    retrieval_table,
    summary,
    tsne_figure,
)
from genlab.studies.curves import read_curves
from genlab.studies.datasets import DEFAULT_DATA, GENERIC, DataNeeds, settings_for

__all__ = [
    "ABLATIONS",
    "SEEN",
    "VAL_QUERY",
    "VAL_TRAIN",
    "SETTINGS",
    "STUDY",
    "UNSEEN",
    "ContrastiveSettings",
    "checks",
    "configurations",
    "run",
]

QUESTION = "Does a metric embedding learnt on some classes rank classes it never saw?"
CLAIM = (
    "Trained with the triplet family's defaults (triplet loss plus the input-geometry "
    "anchor and jitter invariance) on classes 0-4 of {data} (weights chosen on "
    "held-out train images of those classes), the embedding ranks the test images of the "
    "never-seen classes 5-9 better than raw pixels: MAP@R above raw pixels' and Recall@1 "
    "at most 0.01 below; and training separates the classes it saw: test MAP@R on "
    "classes 0-4 above raw pixels' and the untrained network's."
)
SEEN = (0, 1, 2, 3, 4)
UNSEEN = (5, 6, 7, 8, 9)
VAL_TRAIN, VAL_QUERY = (0, 1, 2), (3, 4)  # class-disjoint validation inside SEEN
RECALL_SLACK = 0.01  # Recall@1 may fall this far below raw pixels'
MINERS = ("random", "batch_hard", "batch_all", "semi_hard")
# the defaults without one or both of the class-free terms
ABLATIONS: dict[str, dict[str, Any]] = {
    "no_invariance": {"model.invariance": 0.0},
    "no_anchor": {"model.anchor": 0.0},
    "plain": {"model.anchor": 0.0, "model.invariance": 0.0},
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


# Settings by dataset, then budget; GENERIC serves other images. Fashion-MNIST quick: 18.7 min
# in the whole report (--jobs 2, 56.9 min): 6 configurations x 2 runs of 150 x 64, scoring.
QUICK = (("train.batch_size", 128), ("train.eval_every", 50))  # overrides at the quick budget
FASHION = {
    "quick": ContrastiveSettings(
        150, (0.2,), ("batch_hard",), (("train.batch_size", 64), ("train.eval_every", 50))
    ),
    "full": ContrastiveSettings(train_steps=2000),  # to be tuned
}
SETTINGS: dict[str, dict[str, ContrastiveSettings]] = {
    "digits": {
        # one margin, one miner besides the defaults': 6 configurations, 2.3 min on one core
        "quick": ContrastiveSettings(200, (0.2,), ("batch_hard",), QUICK),
        "full": ContrastiveSettings(train_steps=2000),
    },
    "fashion-mnist": FASHION,
    GENERIC: FASHION,
}


def configurations(s: ContrastiveSettings) -> dict[str, dict[str, Any]]:
    """Row name -> model overrides: each miner with each margin, NT-Xent, then the
    ablations of the defaults (:data:`ABLATIONS`)."""
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
    base = {
        "data.name": data,
        "data.classes": SEEN,
        "train.steps": s.train_steps,
        **dict(s.overrides),
    }
    configs = configurations(s)
    default = _default_row(base, configs)
    if default not in configs:
        configs = {default: {}, **configs}
    default_cfg = make_config("triplet", overrides=base)
    dataset = load_dataset(data)
    sets, val = _image_sets(dataset)
    rows: dict[str, dict[str, float | None]] = {"pixels": _pixel_scores(sets | val)}
    untrained = _untrained(default_cfg, device)
    rows["untrained"] = _scores(untrained, sets | val, default_cfg.model)
    models: dict[str, Any] = {}
    for name, over in configs.items():
        say("contrastive", f"training {name} on classes 0-2 for validation, then 0-4")
        path = train_quietly(
            "triplet",
            {**base, "data.classes": VAL_TRAIN, **over},
            out / "runs" / f"val_{name}",
            device,
        )
        loaded = load_run(path, device=device)
        rows[name] = _scores(loaded.model, val, loaded.config.model)
        start = time.perf_counter()
        path = train_quietly("triplet", {**base, **over}, out / "runs" / name, device)
        seconds = time.perf_counter() - start
        loaded = load_run(path, device=device)
        models[name] = loaded.model
        rows[name] |= _scores(loaded.model, sets, loaded.config.model) | _log_stats(path)
        rows[name]["train_s"] = seconds
        say(
            "contrastive",
            f"{name:18s} val MAP@R {rows[name]['val_map_at_r']:.3f}, "
            f"unseen MAP@R {rows[name]['unseen_map_at_r']:.3f}",
        )
    selected = _select(rows, configs, default)
    ev = _evidence(rows, default, selected)
    figures = _figures(untrained, models, figure_sets(sets), default_cfg, configs, default, ev, out)
    return StudyResult(
        study="contrastive",
        question=QUESTION,
        claim=CLAIM.format(data=data),
        verdict=verdict_of(checks(ev, default), budget=budget),
        summary=summary(ev, default, selected, configs),
        evidence=ev,
        tables=[retrieval_table(rows, configs, default, selected, data)],
        figures=figures,
        protocol=_protocol(s, default_cfg, default, selected, dataset),
    )


def checks(ev: Evidence, default: str) -> dict[str, bool | None]:
    """The claim's checks, read off the evidence (``default``: the defaults' row);
    None where a number is missing."""
    return {
        "map_above_pixels": greater(ev, f"{default}_unseen_map_at_r", "pixels_unseen_map_at_r"),
        "recall_within_slack": at_least(
            ev, f"{default}_unseen_recall_at_1", "pixels_unseen_recall_at_1", offset=-RECALL_SLACK
        ),
        "separates_seen": all_of(
            greater(ev, f"{default}_seen_map_at_r", f"{ref}_seen_map_at_r")
            for ref in ("pixels", "untrained")
        ),
    }


def _figures(
    untrained: Any,
    models: dict[str, Any],
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    cfg: Any,
    configs: dict[str, dict[str, Any]],
    default: str,
    ev: dict[str, float | None],
    out: Path,
) -> list[Any]:
    """Distance histograms and t-SNE maps of the defaults' run (and of the plain triplet
    loss's, when trained), and the retrieval bars."""
    shown = {"untrained network": untrained}
    for row in ("plain", default):
        if row in models:
            shown[label_of(row, configs[row])] = models[row]
    pairs = {
        (split, state): pair_distances(*_embedded(model, sets[split], cfg.model))
        for split in ("seen", "unseen")
        for state, model in shown.items()
    }
    maps = {"raw pixels": sets["unseen"][0].flatten(1).double()}
    maps |= {
        state: _embedded(model, sets["unseen"], cfg.model)[0] for state, model in shown.items()
    }
    names = ["pixels", "untrained", *configs]
    return [
        distances_figure(pairs, list(shown), cfg.model.margin, out),
        tsne_figure(maps, sets["unseen"][1], out),
        retrieval_figure(ev, names, configs, out),
    ]


def _default_row(base: dict[str, Any], configs: dict[str, dict[str, Any]]) -> str:
    """The row whose model config equals the family's defaults (``defaults`` if none)."""
    default = make_config("triplet", overrides=base).model
    for name, over in configs.items():
        if make_config("triplet", overrides={**base, **over}).model == default:
            return name
    return "defaults"


def _select(
    rows: dict[str, dict[str, float | None]], configs: dict[str, dict[str, Any]], default: str
) -> str:
    """The configuration with the highest validation MAP@R (trained on classes 0-2,
    retrieval among the train images of 3-4); ties go to the defaults, then in order."""
    order = [default, *[n for n in configs if n != default]]
    return max(order, key=lambda n: rows[n]["val_map_at_r"] or 0.0)


def _image_sets(dataset: Dataset) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], ...]:
    """(images, labels) of the seen and unseen test images, and the validation images:
    the TRAIN images of classes 3-4, which the validation runs (classes 0-2) never see."""
    seen, unseen = dataset.restrict_classes(SEEN), dataset.restrict_classes(UNSEEN)
    query = dataset.restrict_classes(VAL_QUERY).train
    assert seen.test.y is not None and unseen.test.y is not None and query.y is not None
    sets = {"seen": (seen.test.x, seen.test.y), "unseen": (unseen.test.x, unseen.test.y)}
    return sets, {"val": (query.x, query.y)}


def _untrained(cfg: Any, device: str) -> Any:
    """The triplet network as the trainer builds it (same seed), before any step."""
    return build_model(cfg, load_data(cfg.data).meta).to(device).eval()


def _embedded(
    model: Any, xy: tuple[torch.Tensor, torch.Tensor], model_cfg: Any
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(embeddings (N, d) float64 on the CPU, labels (N,), distance name)."""
    return embed_all(model, xy[0]).double(), xy[1], model_cfg.distance


def _pixel_scores(sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float | None]:
    """Retrieval with the flattened integer pixels as embeddings (Euclidean)."""
    out: dict[str, float | None] = {}
    for split, (x, y) in sets.items():
        scores = retrieval_scores(x.flatten(1).double(), y, ks=(1,), distance="euclidean")
        out[f"{split}_recall_at_1"], out[f"{split}_map_at_r"] = scores["recall@1"], scores["map@r"]
    return out


def _scores(
    model: Any, sets: dict[str, tuple[torch.Tensor, torch.Tensor]], model_cfg: Any
) -> dict[str, float | None]:
    """Recall@1 and MAP@R on each image set; on the test images also the share of
    triplets that satisfy this model's margin and the mean distance between images
    (near 0: the embedding collapsed to a point)."""
    out: dict[str, float | None] = {}
    for split, xy in sets.items():
        e, y, distance = _embedded(model, xy, model_cfg)
        scores = retrieval_scores(e, y, ks=(1,), distance=distance)
        out[f"{split}_recall_at_1"], out[f"{split}_map_at_r"] = scores["recall@1"], scores["map@r"]
        if split in ("seen", "unseen"):
            d = as_distance(distance).pairwise(e)
            out[f"{split}_margin_satisfied"] = margin_satisfied(d, y, model_cfg.margin)
            out[f"{split}_mean_distance"] = float(d.sum()) / (len(d) * (len(d) - 1))
    return out


def _log_stats(run: Path) -> dict[str, float | None]:
    """The mined active-triplet share of the last logged steps and the selected step."""
    best = read_curves(run, "loss").best_val()
    return {
        "active_fraction": read_curves(run, "active_fraction").last_train(),
        "selected_step": None if best is None else float(best[0]),
    }


def _evidence(rows: dict[str, dict[str, float | None]], default: str, selected: str) -> Evidence:
    ev = Evidence()
    for name, r in rows.items():
        ev |= {f"{name}_{key}": value for key, value in r.items()}
    for key in ("unseen_recall_at_1", "unseen_map_at_r", "val_map_at_r"):
        ev[f"selected_{key}"] = rows[selected][key]
    ev["default_minus_pixels_unseen_map_at_r"] = (rows[default]["unseen_map_at_r"] or 0.0) - (
        rows["pixels"]["unseen_map_at_r"] or 0.0
    )
    return ev


def _protocol(
    s: ContrastiveSettings, cfg: Any, default: str, selected: str, dataset: Dataset
) -> dict[str, Any]:
    """How the numbers were measured; the data's facts read off ``dataset``."""
    sets, val = _image_sets(dataset)
    sets |= val
    return {
        "data": f"{describe_data(dataset)}; training on the TRAIN images of classes 0-4 "
        f"({len(dataset.restrict_classes(SEEN).train)}), {cfg.train.val_fraction:.0%} of them "
        f"held out (seed {cfg.train.seed}) for weight selection on the run's own validation "
        "loss",
        "retrieval": "leave-one-out among the TEST images of classes 5-9 (unseen, "
        f"{len(sets['unseen'][1])} images) and of classes 0-4 (seen, {len(sets['seen'][1])}); "
        "Recall@1 and MAP@R (Musgrave et al. 2020) with the family's distance "
        f"({cfg.model.distance}); raw pixels: the "
        f"{dataset.meta.dims} integer pixel values, Euclidean",
        "validation": "each configuration also trained on the train images of classes "
        f"0-2 and scored by MAP@R among the {len(sets['val'][1])} train images of classes "
        "3-4 (class-disjoint, inside the seen classes); the highest is 'selected' (ties "
        "to the defaults)",
        "default_configuration": default,
        "selected_on_validation": selected,
        "model": f"triplet family defaults (embed_dim {cfg.model.embed_dim}, channels "
        f"{cfg.model.channels}, normalize {cfg.model.normalize}, augment "
        f"{cfg.model.augment}, NT-Xent temperature {cfg.model.temperature:g}, "
        f"anchor {cfg.model.anchor:g}, invariance {cfg.model.invariance:g}), each row "
        "changing only loss, miner and margin, or (ablations) anchor and invariance",
        "margins": list(s.margins),
        "overrides": {key: value for key, value in s.overrides},
        "train_steps_each": s.train_steps,
        "batch_size": cfg.train.batch_size,
        "eval_every": cfg.train.eval_every,
        "margin_satisfied": "share of all test triplets (a, p, n) with d(a,n) >= d(a,p) + "
        "margin (zero hinge), at each row's margin (the default margin for NT-Xent and "
        "the untrained network)",
        "mean_distance": "mean distance between two different test images in the "
        "embedding (units of the family's distance); near 0 means a collapsed embedding",
        "tsne": "scikit-learn TSNE, perplexity 30, PCA init, random_state 0",
        "seed": cfg.train.seed,
    }


STUDY = Study(
    "contrastive",
    QUESTION,
    CLAIM.format(data="the study's dataset"),
    run,
    DataNeeds(classes=10, why="it trains on classes 0-4 and retrieves classes 5-9"),
    cost=2.3,
)
