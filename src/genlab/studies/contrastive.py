"""Study ``contrastive``: does a metric embedding learnt on some classes rank classes it
never saw?

The ``triplet`` family is trained on the digit classes 0-4 (its weights chosen on a
validation part held out from the TRAIN images of those classes, never on classes 5-9)
with the triplet margin loss ``relu(d(a,p) - d(a,n) + margin)`` (Schroff et al. 2015,
Eq. 1) under each miner (random, batch-hard, batch-all, semi-hard; Hermans et al. 2017)
and two margins, and with the supervised NT-Xent (Khosla et al. 2020, Eq. 2). Each
embedding is scored by leave-one-out retrieval among the TEST images of the unseen
classes 5-9 (Recall@1, MAP@R; Musgrave et al. 2020, Sec. 3.2), and among those of the
seen classes 0-4, next to raw pixels and the untrained network as reference rows.

Why it can fail: the loss is zero once every seen class sits in its own tight cluster,
and nothing in it asks the directions that separate 0-4 to separate 5-9 as well. On
8x8 digits, raw pixels are already a strong metric (Recall@1 about 0.97 on the unseen
classes), so an embedding that only fits the seen classes ranks the unseen ones worse
than the pixels it started from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.studies.base import Budget, Study, StudyResult, say, train_quietly, verdict_of
from genlab.studies.contrastive_report import (
    distances_figure,
    label_of,
    retrieval_figure,
    retrieval_table,
    summary,
    tsne_figure,
)

__all__ = [
    "SEEN",
    "SETTINGS",
    "STUDY",
    "UNSEEN",
    "ContrastiveSettings",
    "checks",
    "configurations",
    "margin_satisfied",
    "pair_distances",
    "run",
]

QUESTION = "Does a metric embedding learnt on some classes rank classes it never saw?"
CLAIM = (
    "Trained with the triplet family's defaults on digit classes 0-4 (weights chosen on "
    "held-out train images of those classes), the embedding ranks the test images of the "
    "never-seen classes 5-9 better than raw pixels: MAP@R above raw pixels' and Recall@1 "
    "at most 0.01 below; and training separates the classes it saw: more test triplets of "
    "classes 0-4 satisfy the margin than with the untrained network."
)
SEEN = (0, 1, 2, 3, 4)
UNSEEN = (5, 6, 7, 8, 9)
RECALL_SLACK = 0.01  # Recall@1 may fall this far below raw pixels'
MINERS = ("random", "batch_hard", "batch_all", "semi_hard")


@dataclass(frozen=True)
class ContrastiveSettings:
    """Training steps of every run, the margins tried with each miner (in units of the
    family's distance; Euclidean on the unit sphere by default, so in [0, 2]) and
    overrides applied to every run (``(key, value)``)."""

    train_steps: int
    margins: tuple[float, float] = (0.2, 0.5)
    miners: tuple[str, ...] = MINERS
    overrides: tuple[tuple[str, Any], ...] = ()


SETTINGS: dict[str, ContrastiveSettings] = {
    "quick": ContrastiveSettings(
        train_steps=200, overrides=(("train.batch_size", 128), ("train.eval_every", 50))
    ),
    "full": ContrastiveSettings(train_steps=2000),
}


def configurations(s: ContrastiveSettings) -> dict[str, dict[str, Any]]:
    """Row name -> model overrides: each miner with each margin, then NT-Xent."""
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
    return rows


def run(
    budget: Budget, out: Path, device: str, settings: ContrastiveSettings | None = None
) -> StudyResult:
    """Run the study at ``budget`` (or with explicit ``settings``) into ``out``."""
    from genlab.runs import load_run, make_config

    s = settings or SETTINGS[budget]
    base = {
        "data.name": "digits",
        "data.classes": SEEN,
        "train.steps": s.train_steps,
        **dict(s.overrides),
    }
    configs = configurations(s)
    default = _default_row(base, configs)
    if default not in configs:
        configs = {default: {}, **configs}
    default_cfg = make_config("triplet", overrides=base)
    sets = _image_sets(default_cfg)
    rows: dict[str, dict[str, float | None]] = {"pixels": _pixel_scores(sets)}
    untrained = _untrained(default_cfg, device)
    rows["untrained"] = _scores(untrained, sets, default_cfg.model)
    models: dict[str, Any] = {}
    for name, over in configs.items():
        say("contrastive", f"training {name} on classes 0-4 ({s.train_steps} steps)")
        start = time.perf_counter()
        path = train_quietly("triplet", {**base, **over}, out / "runs" / name, device)
        seconds = time.perf_counter() - start
        loaded = load_run(path, device=device)
        models[name] = loaded.model
        rows[name] = _scores(loaded.model, sets, loaded.config.model) | _log_stats(path)
        rows[name]["train_s"] = seconds
        say("contrastive", f"{name:18s} unseen MAP@R {rows[name]['unseen_map_at_r']:.3f}")
    selected = _select(rows, configs, default)
    ev = _evidence(rows, default, selected)
    figures = _figures(untrained, models[default], sets, default_cfg, configs, default, ev, out)
    return StudyResult(
        study="contrastive",
        question=QUESTION,
        claim=CLAIM,
        verdict=verdict_of(checks(ev, default), budget=budget),
        summary=summary(ev, default, selected, configs),
        evidence=ev,
        tables=[retrieval_table(rows, configs, default, selected)],
        figures=figures,
        protocol=_protocol(s, default_cfg, default, selected, sets),
    )


def checks(ev: dict[str, float | None], default: str) -> dict[str, bool | None]:
    """The claim's checks, read off the evidence (``default``: the defaults' row);
    None where a number is missing."""
    return {
        "map_above_pixels": _above(ev, f"{default}_unseen_map_at_r", "pixels_unseen_map_at_r"),
        "recall_within_slack": _above(
            ev, f"{default}_unseen_recall_at_1", "pixels_unseen_recall_at_1", -RECALL_SLACK
        ),
        "margin_separates_seen": _above(
            ev, f"{default}_seen_margin_satisfied", "untrained_seen_margin_satisfied"
        ),
    }


def _above(ev: dict[str, float | None], a: str, b: str, slack: float | None = None) -> bool | None:
    """``ev[a] > ev[b]``, or ``ev[a] >= ev[b] + slack`` with a slack; None if one is missing."""
    va, vb = ev.get(a), ev.get(b)
    if va is None or vb is None:
        return None
    return va > vb if slack is None else va >= vb + slack


def _figures(
    untrained: Any,
    trained: Any,
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    cfg: Any,
    configs: dict[str, dict[str, Any]],
    default: str,
    ev: dict[str, float | None],
    out: Path,
) -> list[Any]:
    """Distance histograms and t-SNE maps of the defaults' run, and the retrieval bars."""
    name = label_of(default, configs[default])
    pairs = {
        (split, state): pair_distances(*_embedded(model, sets[split], cfg.model))
        for split in ("seen", "unseen")
        for state, model in (("untrained", untrained), ("trained", trained))
    }
    maps = {
        "raw pixels": sets["unseen"][0].flatten(1).double(),
        "untrained network": _embedded(untrained, sets["unseen"], cfg.model)[0],
        name: _embedded(trained, sets["unseen"], cfg.model)[0],
    }
    names = ["pixels", "untrained", *configs]
    return [
        distances_figure(pairs, cfg.model.margin, name, out),
        tsne_figure(maps, sets["unseen"][1], out),
        retrieval_figure(ev, names, configs, out),
    ]


def _default_row(base: dict[str, Any], configs: dict[str, dict[str, Any]]) -> str:
    """The row whose model config equals the family's defaults (``defaults`` if none)."""
    from genlab.runs import make_config

    default = make_config("triplet", overrides=base).model
    for name, over in configs.items():
        if make_config("triplet", overrides={**base, **over}).model == default:
            return name
    return "defaults"


def _select(
    rows: dict[str, dict[str, float | None]], configs: dict[str, dict[str, Any]], default: str
) -> str:
    """The configuration with the highest validation MAP@R (seen classes, held-out train
    images); ties go to the defaults, then to the first in order."""
    order = [default, *[n for n in configs if n != default]]
    return max(order, key=lambda n: rows[n]["val_map_at_r"] or 0.0)


def _image_sets(cfg: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) of the seen test, unseen test and seen validation images.

    ``val`` is the part of classes 0-4's TRAIN images that the trainer holds out (same
    ``train.val_fraction`` and seed), the only images used to compare configurations.
    """
    from genlab.data import load_dataset
    from genlab.runs import load_data
    from genlab.train.trainer import split_validation

    digits = load_dataset("digits")
    seen, unseen = digits.restrict_classes(SEEN), digits.restrict_classes(UNSEEN)
    _, val = split_validation(load_data(cfg.data).train, cfg.train)
    assert val is not None and val.y is not None, "the triplet family holds out a validation part"
    assert seen.test.y is not None and unseen.test.y is not None
    return {
        "seen": (seen.test.x, seen.test.y),
        "unseen": (unseen.test.x, unseen.test.y),
        "val": (val.x.cpu(), val.y.cpu()),
    }


def _untrained(cfg: Any, device: str) -> Any:
    """The triplet network as the trainer builds it (same seed), before any step."""
    from genlab.runs import build_model, load_data

    return build_model(cfg, load_data(cfg.data).meta).to(device).eval()


def _embedded(
    model: Any, xy: tuple[torch.Tensor, torch.Tensor], model_cfg: Any
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(embeddings (N, d) float64 on the CPU, labels (N,), distance name)."""
    from genlab.metrics.embedding import embed_all

    return embed_all(model, xy[0]).double(), xy[1], model_cfg.distance


def _pixel_scores(sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float | None]:
    """Retrieval with the flattened integer pixels as embeddings (Euclidean)."""
    from genlab.metrics.retrieval import retrieval_scores

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
    from genlab.metrics.retrieval import retrieval_scores

    out: dict[str, float | None] = {}
    for split, xy in sets.items():
        e, y, distance = _embedded(model, xy, model_cfg)
        scores = retrieval_scores(e, y, ks=(1,), distance=distance)
        out[f"{split}_recall_at_1"], out[f"{split}_map_at_r"] = scores["recall@1"], scores["map@r"]
        if split in ("seen", "unseen"):
            d = _distance_matrix(e, distance)
            out[f"{split}_margin_satisfied"] = margin_satisfied(d, y, model_cfg.margin)
            out[f"{split}_mean_distance"] = float(d.sum()) / (len(d) * (len(d) - 1))
    return out


def _log_stats(run: Path) -> dict[str, float | None]:
    """The mined active-triplet share of the last logged steps and the selected step."""
    from genlab.studies.curves import read_curves

    best = read_curves(run, "loss").best_val()
    return {
        "active_fraction": read_curves(run, "active_fraction").last_train(),
        "selected_step": None if best is None else float(best[0]),
    }


def _distance_matrix(e: torch.Tensor, distance: str) -> torch.Tensor:
    """(N, N) distances between embeddings (N, d) with the family's distance."""
    from genlab.metric.distances import Cosine, Euclidean

    return (Euclidean() if distance == "euclidean" else Cosine()).pairwise(e)


def pair_distances(e: torch.Tensor, labels: torch.Tensor, distance: str) -> dict[str, torch.Tensor]:
    """Distances of embeddings (N, d) with labels (N,): ``positive`` (P,) and ``negative``
    (M,) over unordered pairs i < j of the same / another class, and ``gap`` (T,), the
    ``d(a, n) - d(a, p)`` of every triplet (anchor a, positive p != a, negative n)."""
    d = _distance_matrix(e, distance)
    same = labels[:, None] == labels[None, :]
    upper = torch.ones_like(same).triu(1)
    valid = _triplets(labels)
    gap = d[:, None, :] - d[:, :, None]  # (a, p, n): d(a, n) - d(a, p)
    return {
        "positive": d[same & upper],
        "negative": d[~same & upper],
        "gap": gap[valid].float(),
    }


def _triplets(labels: torch.Tensor) -> torch.Tensor:
    """(N, N, N) bool: (a, p, n) is a triplet (p of a's class, p != a; n of another)."""
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return pos[:, :, None] & ~same[:, None, :]


def margin_satisfied(d: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    """Share of all triplets (a, p, n) of distances d (N, N) and labels (N,) whose
    hinge ``relu(d(a,p) - d(a,n) + margin)`` is zero, i.e. ``d(a,n) >= d(a,p) + margin``."""
    valid = _triplets(labels)
    ok = d[:, None, :] - d[:, :, None] >= margin  # (a, p, n)
    return float((ok & valid).sum()) / float(valid.sum())


def _evidence(
    rows: dict[str, dict[str, float | None]], default: str, selected: str
) -> dict[str, float | None]:
    ev: dict[str, float | None] = {}
    for name, r in rows.items():
        ev |= {f"{name}_{key}": value for key, value in r.items()}
    for key in ("unseen_recall_at_1", "unseen_map_at_r", "val_map_at_r"):
        ev[f"selected_{key}"] = rows[selected][key]
    ev["default_minus_pixels_unseen_map_at_r"] = (rows[default]["unseen_map_at_r"] or 0.0) - (
        rows["pixels"]["unseen_map_at_r"] or 0.0
    )
    return ev


def _protocol(
    s: ContrastiveSettings, cfg: Any, default: str, selected: str, sets: dict[str, Any]
) -> dict[str, Any]:
    return {
        "data": "digits (1x8x8, 17 levels); training on the TRAIN images of classes 0-4, "
        f"{cfg.train.val_fraction:.0%} of them held out (seed {cfg.train.seed}) for weight "
        "selection on the run's own validation loss",
        "retrieval": "leave-one-out among the TEST images of classes 5-9 (unseen, "
        f"{len(sets['unseen'][1])} images) and of classes 0-4 (seen, {len(sets['seen'][1])}); "
        "Recall@1 and MAP@R (Musgrave et al. 2020) with the family's distance "
        f"({cfg.model.distance}); raw pixels: the 64 integer levels, Euclidean",
        "validation": f"MAP@R among the {len(sets['val'][1])} held-out train images of "
        "classes 0-4; the configuration with the highest is 'selected' (ties to the defaults)",
        "default_configuration": default,
        "selected_on_validation": selected,
        "model": f"triplet family defaults (embed_dim {cfg.model.embed_dim}, channels "
        f"{cfg.model.channels}, normalize {cfg.model.normalize}, augment "
        f"{cfg.model.augment}, NT-Xent temperature {cfg.model.temperature:g}), "
        "each row changing only loss, miner and margin",
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


STUDY = Study("contrastive", QUESTION, CLAIM, run)
