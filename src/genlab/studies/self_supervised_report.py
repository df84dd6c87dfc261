"""Figures, table and summary of the ``self_supervised`` study (see self_supervised.py).

Accuracies come as ``{row: {label fraction: accuracy}}``; the rows are named as in
:data:`LABELS` (``pixels``, ``untrained``, each pretraining method's probe, ``finetune_*``,
``scratch``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from genlab.data import Split
from genlab.runs import load_run
from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.self_supervised_cv import CrossValidated
from genlab.studies.self_supervised_stopping import Stopped

__all__ = [
    "LABELS",
    "accuracy_table",
    "curve_figure",
    "pct",
    "search_figure",
    "simclr_views",
    "stopping_table",
    "summary",
    "views_figure",
]

LABELS = {
    "simclr": "SimCLR, linear probe",
    "rotation": "rotation, linear probe",
    "masked": "masked reconstruction, linear probe",
    "finetune_simclr": "SimCLR, fine-tuned",
    "finetune_rotation": "rotation, fine-tuned",
    "finetune_masked": "masked reconstruction, fine-tuned",
    "scratch": "same encoder from scratch",
    "pixels": "raw pixels, logistic regression",
    "untrained": "untrained encoder, linear probe",
}
SHORT = {"simclr": "SimCLR", "rotation": "rotation", "masked": "masked reconstruction"}
COLORS = {
    "simclr": "tab:blue",
    "rotation": "tab:orange",
    "masked": "tab:green",
    "scratch": "black",
    "pixels": "tab:gray",
    "untrained": "silver",
}
Scores = Mapping[str, Mapping[float, float | None]]


def pct(fraction: float) -> str:
    """Evidence-key form of a label fraction: 0.1 -> ``10pct``, 0.005 -> ``0p5pct``."""
    return f"{100 * fraction:g}".replace(".", "p") + "pct"


def _style(row: str) -> dict[str, object]:
    method = row.removeprefix("finetune_")
    if row.startswith("finetune_"):
        return {"color": COLORS[method], "ls": "--", "marker": "^"}
    if row in ("pixels", "untrained"):
        return {"color": COLORS[row], "ls": ":", "marker": "o"}
    return {"color": COLORS[method], "ls": "-", "marker": "s" if row == "scratch" else "o"}


def _tick(f: float, counts: Mapping[float, int] | None) -> str:
    share = f"{100 * f:g}%"
    return share if counts is None else f"{share}\n({counts[f]} labels)"


def curve_figure(
    acc: Scores,
    fractions: Sequence[float],
    out: Path,
    counts: Mapping[float, int] | None = None,
    data: str = "digits",
) -> Figure:
    """Test accuracy against the share of train labels (log scale), one line per row."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for row, label in LABELS.items():
        if row not in acc:
            continue
        points = [(f, acc[row][f]) for f in fractions if acc[row].get(f) is not None]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.plot(xs, ys, label=label, lw=1.6, ms=5, **_style(row))  # type: ignore[arg-type]
    ax.set_xscale("log")
    ax.set_xticks(list(fractions), [_tick(f, counts) for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("share of the training labels used")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    caption = (
        f"Label efficiency on {data}: test accuracy against the share of training labels "
        "(the same class-balanced subsets for every line). Solid: linear probes of frozen "
        "self-supervised encoders; dashed: the same encoders fine-tuned; black: the same "
        "encoder trained from scratch on the labels; dotted: logistic regression on raw "
        "pixels and a probe of the untrained encoder."
    )
    return save_figure(fig, out, "label_efficiency.png", caption)


def simclr_views(simclr_run: Path, split: Split, device: str, seed: int) -> torch.Tensor:
    """(3, K, C, H, W) in [-1, 1]: the first test image of each of the K classes of
    ``split``, then two views of each drawn by the trained SimCLR model (seeded)."""
    assert split.y is not None
    x = split.x[[int((split.y == c).nonzero()[0]) for c in split.y.unique().tolist()]]
    model = load_run(simclr_run, device=device).model
    g = torch.Generator(torch.device(device)).manual_seed(seed)
    with torch.inference_mode():
        first, second = model.views(x.to(device), g)
        return torch.stack([model.encoder.centered(x.to(device)), first, second]).cpu()


def views_figure(views: torch.Tensor, out: Path, data: str = "digits") -> Figure:
    """``views`` (3, N, C, H, W) in [-1, 1]: test images of ``data``, then two SimCLR views
    of each; C is 1 (gray) or 3 (RGB)."""
    plt = pyplot()
    rows, n = views.shape[:2]
    fig, axes = plt.subplots(rows, n, figsize=(1.0 * n, 1.1 * rows), squeeze=False)
    titles = ("test image", "view 1", "view 2")
    for r in range(rows):
        for c in range(n):
            ax = axes[r][c]
            image = (views[r, c].float().permute(1, 2, 0) + 1) / 2  # (H, W, C) in [0, 1]
            ax.imshow(image.clamp(0, 1).squeeze(2).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(titles[r], fontsize=8)
    caption = (
        f"What SimCLR learns to ignore: test images of {data} (top) and two augmented views of "
        "each (crop, small rotation and shift, noise, cutout), drawn by the trained SimCLR model. "
        "NT-Xent makes the two views of an image the nearest pair among the batch, so the "
        "representation keeps what survives these changes: the image's class."
    )
    return save_figure(fig, out, "simclr_views.png", caption)


def accuracy_table(
    acc: Scores,
    cv: Scores,
    pretrain_s: Mapping[str, float],
    fractions: Sequence[float],
    counts: Mapping[float, int],
    claim: float,
    test_size: int,
) -> Table:
    """One row per method: test accuracy per label fraction, the probe's train CV accuracy
    at the claim's label fraction and the pretraining time (``test_size``: images in the
    test split)."""
    rows: list[list[str | float | int | None]] = []
    for row, label in LABELS.items():
        if row not in acc:
            continue
        cv_claim = cv.get(row, {}).get(claim)
        rows.append([label, *[acc[row].get(f) for f in fractions], cv_claim, pretrain_s.get(row)])
    columns = [
        "method",
        *[f"{100 * f:g}% labels ({counts[f]})" for f in fractions],
        f"train CV acc., {100 * claim:g}% labels",
        "pretrain s",
    ]
    note = (
        f"Accuracy on the whole test split ({test_size} images). Probes: logistic regression "
        "on frozen standardised features, C by 3-fold cross-validation of the labelled train "
        "subset (whose mean held-out accuracy is the CV column; the best pretrained encoder is "
        "chosen by it). Fine-tuned and from-scratch rows: the classifier family (encoder + "
        "linear head) on the same labels, steps chosen on them (cross-validated or "
        "early-stopped: the next table). One test image is "
        f"{100 / test_size:.2g} points; the SE of an accuracy p is sqrt(p(1-p)/{test_size})."
    )
    return Table("Test accuracy by share of training labels", columns, rows, note)


def _how(stop: Stopped | CrossValidated) -> str:
    if not isinstance(stop, CrossValidated):
        return "held-out part"
    return f"{stop.folds}-fold CV" + (" of label subset 0 (reused)" if stop.reused else "")


def stopping_table(stops: Mapping[str, Stopped | CrossValidated | None]) -> Table:
    """One row per classifier run (``{row}_{share}[_seed{k}]``): how its steps were chosen
    (k-fold cross-validation of its labelled subset, or early stopping on one part held out
    of it), the steps kept, the step the search stopped at, whether the cap stopped it,
    and the held-out accuracy at the kept step; ``fixed steps`` where nothing was held out."""
    rows: list[list[str | float | int | None]] = []
    for name, stop in stops.items():
        if stop is None:
            rows.append([name, "fixed steps", None, None, None, None, None])
            continue
        how = _how(stop)
        ended = "cap" if stop.capped else "patience"
        rows.append(
            [name, how, stop.best_step, stop.stop_step, ended, stop.val_size, stop.val_accuracy]
        )
    columns = [
        "classifier run",
        "steps chosen by",
        "steps kept",
        "search stopped at",
        "ended by",
        "held-out images",
        "held-out acc.",
    ]
    note = (
        "How each classifier run's steps were chosen, on its own labelled subset (never the "
        "test split). k-fold CV: each fold trained on the others and scored on itself, the "
        "step with the best fold-mean accuracy kept, then one run on all the labelled images "
        "for that many steps (its held-out accuracy is the fold mean, every labelled image "
        "scored once). Held-out part: early stopping on it, the best step's weights kept. A "
        "search ended by the cap, not by patience, may not have converged."
    )
    return Table("Classifier runs: how many steps, chosen how", columns, rows, note)


def search_figure(
    stops: Mapping[str, Stopped | CrossValidated | None], out: Path, data: str = "digits"
) -> Figure:
    """Held-out accuracy against training steps for every classifier run whose steps were
    chosen (fold mean for k-fold CV), the kept step circled."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for name, stop in stops.items():
        if stop is None or getattr(stop, "reused", False):  # a reused search: its own curve
            continue
        how = _how(stop)
        steps, accs = [h[0] for h in stop.history], [h[1] for h in stop.history]
        (line,) = ax.plot(steps, accs, lw=1.4, label=f"{name} ({how})")
        ax.plot(
            [stop.best_step], [stop.val_accuracy], "o", mfc="none", ms=9, color=line.get_color()
        )
    ax.set_xlabel("training steps")
    ax.set_ylabel("held-out accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    caption = (
        f"How many steps each classifier trained on {data}: accuracy on labelled images held "
        "out of its own labelled subset (never the test split) as training goes on; for k-fold "
        "cross-validation the mean over folds, every labelled image held out once. Circled: "
        "the step kept (the run on all labels trains that many steps); each curve ends where "
        "the search stopped."
    )
    return save_figure(fig, out, "step_search.png", caption)


def summary(
    ev: Mapping[str, float | None], best: str, fractions: Sequence[float], claim: float
) -> str:
    """What the numbers say, in words; every comparison is read off the evidence."""

    def v(key: str) -> str:
        x = ev.get(key)
        return "n/a" if x is None else f"{100 * x:.1f}%"

    def gain(key: str) -> str:
        x, se = ev.get(key), ev.get(key + "_se")
        return "n/a" if x is None or se is None else f"{100 * x:+.1f} +- {100 * se:.1f} points"

    k, share = pct(claim), f"{100 * claim:g}%"
    subsets = 1 + sum(1 for key in ev if key.startswith(f"scratch_accuracy_{k}_seed"))
    stop, folds = ev.get(f"scratch_{k}_best_step"), ev.get(f"scratch_{k}_cv_folds")
    if stop is None:
        stopped = ""
    elif folds:
        stopped = f" for {stop:.0f} steps (chosen by {folds:.0f}-fold cross-validation of them)"
    else:
        stopped = f", early-stopped (weights of step {stop:.0f} kept)"
    if ev.get(f"scratch_{k}_capped"):
        stopped += " (its search ended at the step cap: it may not have converged)"
    text = (
        f"With {share} of the labels ({ev.get(f'labels_{k}', 0):.0f}), the encoder with the best "
        f"cross-validated probe is {SHORT[best]}: its linear probe scores "
        f"{v(f'best_probe_accuracy_{k}')} on test, against {v(f'scratch_accuracy_{k}')} for "
        f"the same encoder trained from scratch on those labels{stopped}, "
        f"{v(f'untrained_accuracy_{k}')} for a probe of the untrained encoder and "
        f"{v(f'pixels_accuracy_{k}')} for logistic regression on raw pixels. "
        f"Paired gains of the probe over {subsets} label subset(s) of that size: over scratch "
        f"{gain(f'probe_minus_scratch_{k}')}, over the untrained encoder "
        f"{gain(f'probe_minus_untrained_{k}')}, over raw pixels {gain(f'probe_minus_pixels_{k}')}. "
    )
    text += f"Other probes at {share} (reported, not compared): " + ", ".join(
        f"{SHORT[m]} {v(f'{m}_accuracy_{k}')}" for m in SHORT if m != best
    )
    if f"finetune_{best}_accuracy_{k}" in ev:
        text += f"; fine-tuned {SHORT[best]}: {v(f'finetune_{best}_accuracy_{k}')}"
    text += (
        ". Across label shares ("
        + ", ".join(f"{100 * f:g}%" for f in fractions)
        + "): probe "
        + " / ".join(v(f"best_probe_accuracy_{pct(f)}") for f in fractions)
        + ", from scratch "
        + " / ".join(v(f"scratch_accuracy_{pct(f)}") for f in fractions)
        + ", raw pixels "
        + " / ".join(v(f"pixels_accuracy_{pct(f)}") for f in fractions)
        + "."
    )
    return text
