"""The contrastive study's numbers: retrieval scores of each embedding (with their
standard errors) and the evidence record, with paired per-query differences between the
selected rows and each reference on the same test images."""

from __future__ import annotations

from typing import Any

import torch

from genlab.metric.geometry import margin_satisfied
from genlab.metrics.distances import as_distance
from genlab.metrics.embedding import embed_all
from genlab.metrics.retrieval import average_precisions, retrieval_scores
from genlab.studies.base import describe_data
from genlab.studies.checks import Evidence

__all__ = [
    "REFERENCES",
    "VALIDATION",
    "Sets",
    "embedded",
    "evidence",
    "paired",
    "protocol",
    "scores",
]

Sets = dict[str, tuple[torch.Tensor, torch.Tensor]]
# the validation image set each question's row is chosen on
VALIDATION = {"seen": "seen_val", "unseen": "unseen_val"}
REFERENCES = ("pixels", "untrained")


def embedded(
    model: Any, xy: tuple[torch.Tensor, torch.Tensor], model_cfg: Any
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(embeddings (N, d) float64 on the CPU, labels (N,), distance name); ``model``
    None: the flattened pixels (Euclidean)."""
    if model is None:
        return xy[0].flatten(1).double(), xy[1], "euclidean"
    return embed_all(model, xy[0]).double(), xy[1], model_cfg.distance


def scores(
    model: Any, sets: Sets, model_cfg: Any
) -> tuple[dict[str, float | None], dict[str, torch.Tensor]]:
    """Recall@1 and MAP@R with their SEs (binomial; over queries) on each image set, and
    each test set's per-query AP@R (Q,); on the test images of a network also the share of
    triplets that satisfy its margin and the mean distance between images (near 0: the
    embedding collapsed to a point). ``model`` None: raw pixels."""
    out: dict[str, float | None] = {}
    aps: dict[str, torch.Tensor] = {}
    for split, xy in sets.items():
        e, y, distance = embedded(model, xy, model_cfg)
        scores = retrieval_scores(e, y, ks=(1,), distance=distance)
        r1 = scores["recall@1"]
        out[f"{split}_recall_at_1"] = r1
        out[f"{split}_recall_at_1_se"] = (r1 * (1 - r1) / len(y)) ** 0.5
        out[f"{split}_map_at_r"], out[f"{split}_map_at_r_se"] = scores["map@r"], scores["map@r_se"]
        if split.endswith("_val"):
            continue
        aps[split] = average_precisions(e, y, distance=distance)
        if model is not None:
            d = as_distance(distance).pairwise(e)
            out[f"{split}_margin_satisfied"] = margin_satisfied(d, y, model_cfg.margin)
            out[f"{split}_mean_distance"] = float(d.sum()) / (len(d) * (len(d) - 1))
    return out, aps


def paired(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean of the per-query differences ``a - b`` (Q,) and its SE over queries."""
    assert a.shape == b.shape, (a.shape, b.shape)
    d = (a - b).double()
    return float(d.mean()), float(d.std() / len(d) ** 0.5) if len(d) > 1 else 0.0


def evidence(
    rows: dict[str, dict[str, float | None]],
    aps: dict[str, dict[str, torch.Tensor]],
    default: str,
    picks: dict[str, str],
) -> Evidence:
    """Every row's numbers (``ROW_KEY``); each selected row's validation MAP@R
    (``selected_Q_validation_map_at_r``, Q: seen or unseen); and the paired differences of
    the selected and default rows from each reference (``LABEL_minus_REF_SPLIT_map_at_r``,
    LABEL: selected_seen, selected_unseen or default)."""
    ev = Evidence()
    for name, r in rows.items():
        ev |= {f"{name}_{key}": v for key, v in r.items()}
    labelled = {f"selected_{q}": row for q, row in picks.items()} | {"default": default}
    for q, row in picks.items():
        for suffix in ("", "_se"):
            key = f"{VALIDATION[q]}_map_at_r{suffix}"
            ev[f"selected_{q}_validation_map_at_r{suffix}"] = rows[row][key]
    for label, row in labelled.items():
        for split in ("seen", "unseen"):
            for ref in REFERENCES:
                name = f"{label}_minus_{ref}_{split}_map_at_r"
                ev[name], ev[f"{name}_se"] = paired(aps[row][split], aps[ref][split])
    return ev


def protocol(
    s: Any, cfg: Any, default: str, picks: dict[str, str], dataset: Any, sets: dict[str, Any]
) -> dict[str, Any]:
    """How the numbers were measured (``s``: the study's settings, ``cfg``: the defaults'
    run config (trained on the seen classes), ``default``: the defaults' row, ``picks``:
    the row selected for each question, ``sets``: the test and validation (images,
    labels))."""
    seen = len(dataset.restrict_classes(cfg.data.classes).train)
    return {
        "data": f"{describe_data(dataset)}; training on the TRAIN images of classes 0-4 "
        f"({seen}), {cfg.train.val_fraction:.0%} of them held out (seed {cfg.train.seed}) "
        "for weight selection on the run's own validation loss",
        "retrieval": "leave-one-out among the TEST images of classes 5-9 (unseen, "
        f"{len(sets['unseen'][1])} images) and of classes 0-4 (seen, {len(sets['seen'][1])}); "
        "Recall@1 and MAP@R (Musgrave et al. 2020) with the family's distance "
        f"({cfg.model.distance}); raw pixels: the {dataset.meta.dims} integer pixel values, "
        "Euclidean; untrained network: the defaults' network as built (same seed), no step",
        "standard_errors": "MAP@R: over queries (SD of per-query AP@R / sqrt(queries)); "
        "Recall@1: binomial; the checks' differences: paired per-query AP@R differences of "
        "the same test images embedded two ways, SD / sqrt(queries). One training seed: "
        "training noise is not in the SEs",
        "validation_unseen": "each configuration also trained on the train images of "
        f"classes 0-2 and scored by MAP@R among the {len(sets['unseen_val'][1])} train images "
        "of classes 3-4 (class-disjoint, inside the seen classes); the highest is "
        "'selected_unseen' (ties to the defaults), the row the unseen-class checks read",
        "validation_seen": "each run on classes 0-4 scored by MAP@R among the "
        f"{len(sets['seen_val'][1])} train images of 0-4 its trainer held out (the same for "
        "every row, never trained on; its validation loss also chose the run's weights); "
        "the highest is 'selected_seen' (ties to the defaults), the row the seen-class "
        "checks read. No test image is read by either choice",
        "family_defaults": "chosen by benchmarks/triplet_defaults.py on class-disjoint "
        "validation folds inside the training classes 0-4, train images only (its data and "
        "every row: benchmarks/results/triplet_defaults.json)",
        "default_configuration": default,
        "selected_seen": picks["seen"],
        "selected_unseen": picks["unseen"],
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
