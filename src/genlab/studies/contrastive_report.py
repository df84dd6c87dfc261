"""Figures, table and summary of the ``contrastive`` study (see contrastive.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.manifold import TSNE

from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.threads import limit_native_threads

__all__ = [
    "FIGURE_IMAGES",
    "distances_figure",
    "figure_sets",
    "label_of",
    "retrieval_figure",
    "retrieval_table",
    "summary",
    "tsne_figure",
]

# the figures' images per split: the triplet gaps take O(N^3) memory and t-SNE O(N^2)
# time, so a larger test split (5,000 images of 5 classes at 28x28) is subsampled
FIGURE_IMAGES = 400
SUBSET_NOTE = (
    f"At most {FIGURE_IMAGES} test images per split (a random subset, seed 0, where there "
    "are more); the table's numbers use all of them."
)
COLLAPSED = 0.01  # mean distance below this share of the untrained network's
REFERENCES = {"pixels": "raw pixels (Euclidean)", "untrained": "untrained network (same seed)"}
ABLATION_LABELS = {  # the rows of contrastive.ABLATIONS
    "plain": "plain triplet loss (no anchor, no jitter)",
    "with_invariance": "defaults plus jitter views (invariance 50)",
    "invariance_only": "jitter views without the anchor",
}


def label_of(name: str, over: dict[str, Any] | None = None) -> str:
    """A row's label: the reference rows, a miner with its margin, NT-Xent, or defaults."""
    if name in REFERENCES:
        return REFERENCES[name]
    if name in ABLATION_LABELS:
        return ABLATION_LABELS[name]
    over = over or {}
    if over.get("model.loss") == "ntxent":
        return "NT-Xent (supervised)"
    if "model.miner" in over:
        miner = str(over["model.miner"]).replace("_", "-")
        return f"triplet, {miner} miner, margin {over['model.margin']:g}"
    return "triplet, family defaults"


def figure_sets(
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]], n: int = FIGURE_IMAGES
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each (images, labels) set as is when it has at most ``n`` images, else ``n`` of
    them drawn at random (seed 0, in their original order): what the figures show."""
    out = {}
    for name, (x, y) in sets.items():
        keep = torch.arange(len(y))
        if len(y) > n:
            keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:n].sort()[0]
        out[name] = (x[keep], y[keep])
    return out


def _labels(names: list[str], configs: dict[str, dict[str, Any]]) -> list[str]:
    return [label_of(n, configs.get(n)) for n in names]


def distances_figure(
    pairs: dict[tuple[str, str], dict[str, torch.Tensor]],
    states: list[str],
    margin: float,
    out: Path,
) -> Figure:
    """For each embedding (columns: ``states``, keys of ``pairs`` with the split) and each
    split (seen, unseen): the distances of same-class and other-class test pairs, and
    the triplet gaps ``d(a,n) - d(a,p)`` against the margin."""
    plt = pyplot()
    fig, axes = plt.subplots(
        4, len(states), figsize=(4.2 * len(states), 11), layout="constrained", squeeze=False
    )
    for col, state in enumerate(states):
        for k, split in enumerate(("seen", "unseen")):
            p = {key: v.cpu().numpy() for key, v in pairs[(split, state)].items()}
            where = "classes 0-4 (seen)" if split == "seen" else "classes 5-9 (unseen)"
            top, bottom = axes[2 * k, col], axes[2 * k + 1, col]
            bins = np.linspace(0.0, max(p["positive"].max(), p["negative"].max()), 50)
            top.hist(p["positive"], bins=bins, density=True, alpha=0.6, label="same class")
            top.hist(p["negative"], bins=bins, density=True, alpha=0.6, label="other class")
            top.set_title(f"{state}\ntest {where}", fontsize=9)
            top.set_xlabel("distance of a pair", fontsize=8)
            counts, edges = np.histogram(p["gap"], bins=60)
            bottom.stairs(counts / counts.sum(), edges, fill=True, color="tab:gray", alpha=0.6)
            bottom.axvline(margin, color="tab:red", ls="--", label=f"margin {margin:g}")
            bottom.axvspan(min(edges[0], margin), margin, color="tab:red", alpha=0.08)
            share = float((p["gap"] >= margin).mean())
            bottom.set_title(f"{share:.0%} of triplets satisfy the margin", fontsize=9)
            bottom.set_xlabel("d(a, n) - d(a, p)", fontsize=8)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    caption = (
        "Distances in each embedding (columns: untrained, same seed; trained on classes "
        "0-4). Rows 1 and 3: test pairs of the same class and of different classes, seen "
        "then unseen classes. Rows 2 and 4: d(anchor, negative) - d(anchor, positive) over "
        "every test triplet; right of the dashed line the hinge is zero (the margin is "
        "met), the shaded side is what the loss still pushes on. An embedding can rank "
        "well and meet the margin nowhere: a view-invariance term shrinks all distances, "
        "and ranking reads only their order, which the anchor keeps. "
        f"{SUBSET_NOTE}"
    )
    return save_figure(fig, out, "distances.png", caption)


def tsne_figure(embeddings: dict[str, torch.Tensor], labels: torch.Tensor, out: Path) -> Figure:
    """t-SNE maps of the unseen test images, one panel per embedding, coloured by class."""
    plt = pyplot()
    n = len(embeddings)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 4.2), layout="constrained")
    y = labels.cpu().numpy()
    limit_native_threads()  # t-SNE's OpenMP pool: torch's thread count
    for ax, (title, e) in zip(np.atleast_1d(axes), embeddings.items(), strict=True):
        x = e.cpu().double().numpy()
        perplexity = min(30.0, (len(x) - 1) / 3)
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=0).fit_transform(x)
        points = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=10)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(*points.legend_elements(), title="class", fontsize=8, loc="outside right center")
    caption = (
        "t-SNE maps (scikit-learn) of the test images of the unseen classes 5-9, coloured "
        "by class: raw pixels, the untrained network, the plain triplet loss (no anchor, "
        "no invariance), the family's defaults and the configurations chosen on validation "
        "for the seen- and the unseen-class checks (one panel where they coincide). "
        f"{SUBSET_NOTE}"
    )
    return save_figure(fig, out, "tsne_unseen.png", caption)


def retrieval_figure(
    ev: dict[str, float | None], names: list[str], configs: dict[str, dict[str, Any]], out: Path
) -> Figure:
    """MAP@R and Recall@1 of each row on unseen (bars) and seen (dots) test classes,
    with raw pixels' unseen value as a dashed line."""
    plt = pyplot()
    rows = [n for n in names if n != "pixels"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.42 * len(rows) + 1.4), sharey=True)
    for ax, metric, title in zip(
        axes, ("map_at_r", "recall_at_1"), ("MAP@R", "Recall@1"), strict=True
    ):
        unseen = [ev.get(f"{n}_unseen_{metric}") or 0.0 for n in rows]
        seen = [ev.get(f"{n}_seen_{metric}") or 0.0 for n in rows]
        colors = ["tab:gray" if n == "untrained" else _color(n, configs.get(n)) for n in rows]
        ax.barh(range(len(rows)), unseen, color=colors, label="unseen classes 5-9")
        ax.scatter(seen, range(len(rows)), color="k", marker="o", s=14, label="seen 0-4")
        pixels = ev.get(f"pixels_unseen_{metric}")
        if pixels is not None:
            ax.axvline(pixels, color="tab:red", ls="--", label="raw pixels, unseen")
        ax.set_title(f"{title} (leave-one-out among test images)", fontsize=9)
        ax.set_xlim(0, 1.02)
    axes[0].set_yticks(range(len(rows)), _labels(rows, configs), fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption = (
        "Retrieval on the unseen classes 5-9 (bars) and the seen classes 0-4 (dots) for "
        "each loss, miner and margin (blue, green: NT-Xent) and the ablations of the "
        "class-free terms (orange); the dashed line is raw pixels on the unseen classes."
    )
    return save_figure(fig, out, "retrieval.png", caption)


def _color(name: str, over: dict[str, Any] | None) -> str:
    if name in ABLATION_LABELS:
        return "tab:orange"
    if over and over.get("model.loss") == "ntxent":
        return "tab:green"
    return "tab:blue"


def retrieval_table(
    rows: dict[str, dict[str, float | None]],
    configs: dict[str, dict[str, Any]],
    default: str,
    picks: dict[str, str],
    data: str,
) -> Table:
    """Every row's numbers; ``picks``: the row selected for each question (seen, unseen)."""
    keys = (
        "unseen_recall_at_1",
        "unseen_map_at_r",
        "unseen_map_at_r_se",
        "seen_recall_at_1",
        "seen_map_at_r",
        "seen_map_at_r_se",
        "unseen_val_map_at_r",
        "unseen_val_map_at_r_se",
        "seen_val_map_at_r",
        "seen_val_map_at_r_se",
        "seen_margin_satisfied",
        "seen_mean_distance",
        "active_fraction",
        "selected_step",
        "train_s",
    )
    table: list[list[str | float | int | None]] = []
    for name, r in rows.items():
        label = label_of(name, configs.get(name))
        marks = ["defaults"] if name == default else []
        marks += [f"selected: {q}" for q, row in picks.items() if row == name]
        if marks:
            label += f" [{', '.join(marks)}]"
        table.append([label, *[r.get(k) for k in keys]])
    columns = [
        "embedding",
        "unseen R@1",
        "unseen MAP@R",
        "SE",
        "seen R@1",
        "seen MAP@R",
        "SE",
        "class-disjoint val MAP@R",
        "SE",
        "seen val MAP@R",
        "SE",
        "margin met (seen)",
        "mean distance (seen)",
        "mined active",
        "selected step",
        "train s",
    ]
    note = (
        "Leave-one-out retrieval among the test images of the unseen classes 5-9 and of the "
        "seen classes 0-4; 'SE': of the MAP@R to its left, over queries. The only numbers "
        "used to choose: 'class-disjoint val MAP@R', the same configuration trained on "
        "classes 0-2, retrieval among the train images of classes 3-4 ('selected: unseen', "
        "the row the unseen-class checks read); 'seen val MAP@R', the run on 0-4, "
        "retrieval among the train images of 0-4 its trainer held out ('selected: seen', "
        "the row the seen-class checks read). 'margin met': share "
        "of seen test triplets with d(a,n) >= d(a,p) + margin. 'mean distance': between "
        "two seen test images (near 0: collapsed). 'mined active': share of the mined "
        "triplets with a positive hinge at the last logged steps (batch-all mines "
        "only those, so 1 by construction). 'selected step': the step of the weights kept "
        "(lowest validation loss)."
    )
    return Table(f"Retrieval on unseen and seen classes of {data}", columns, table, note)


def summary(
    ev: dict[str, float | None],
    default: str,
    picks: dict[str, str],
    configs: dict[str, dict[str, Any]],
) -> str:
    """What the numbers say, in words, every comparison read off the evidence; ``picks``:
    the row selected for each question (seen, unseen)."""

    def v(key: str) -> str:
        x = ev.get(key)
        return "n/a" if x is None else f"{x:.3f}"

    def pm(key: str) -> str:
        return f"{v(key)} +- {v(key + '_se')}"

    def pair(row: str, split: str = "unseen") -> str:
        return f"{v(f'{row}_{split}_recall_at_1')} / {pm(f'{row}_{split}_map_at_r')}"

    seen, unseen = picks["seen"], picks["unseen"]
    how = {
        "seen": "on the train images of classes 0-4 held out from training",
        "unseen": "by class-disjoint validation (trained on classes 0-2, retrieval among the "
        "train images of 3-4)",
    }
    text = ""
    for q, row in picks.items():
        text += (
            f"For the {q}-class checks, chosen {how[q]}: {label_of(row, configs.get(row))}"
            f"{' (the family defaults)' if row == default else ''}, val MAP@R "
            f"{pm(f'selected_{q}_validation_map_at_r')} (raw pixels "
            f"{pm(f'pixels_{q}_val_map_at_r')}, untrained network "
            f"{pm(f'untrained_{q}_val_map_at_r')}). "
        )
    text += (
        "Recall@1 / MAP@R +- SE on the test images of the seen classes 0-4: raw pixels "
        f"{pair('pixels', 'seen')}, untrained network {pair('untrained', 'seen')}, "
        f"{seen} {pair(seen, 'seen')}; of the unseen classes 5-9: {pair('pixels')}, "
        f"{pair('untrained')}, {unseen} {pair(unseen)}. Paired MAP@R differences over the "
        "same test queries, minus pixels / minus untrained: seen classes, "
        f"{seen}: {pm('selected_seen_minus_pixels_seen_map_at_r')} / "
        f"{pm('selected_seen_minus_untrained_seen_map_at_r')}; unseen classes, {unseen}: "
        f"{pm('selected_unseen_minus_pixels_unseen_map_at_r')} / "
        f"{pm('selected_unseen_minus_untrained_unseen_map_at_r')}. "
    )
    if seen != unseen:
        text += (
            f"Reported, not checked: {seen} on the unseen classes "
            f"{pm('selected_seen_minus_pixels_unseen_map_at_r')} minus pixels; {unseen} on "
            f"the seen classes {pm('selected_unseen_minus_pixels_seen_map_at_r')}. "
        )
    if default not in (seen, unseen):
        text += (
            f"The family defaults{_named(default, configs)} minus pixels (reported, not "
            f"checked): seen {pm('default_minus_pixels_seen_map_at_r')}, unseen "
            f"{pm('default_minus_pixels_unseen_map_at_r')}. "
        )
    trained = [n for n in configs if ev.get(f"{n}_unseen_map_at_r") is not None]
    lo = min(trained, key=lambda n: ev[f"{n}_unseen_map_at_r"] or 0.0)
    hi = max(trained, key=lambda n: ev[f"{n}_unseen_map_at_r"] or 0.0)
    text += (
        f"Across the {len(trained)} trained configurations unseen MAP@R ranges "
        f"{v(f'{lo}_unseen_map_at_r')}-{v(f'{hi}_unseen_map_at_r')} (highest: "
        f"{label_of(hi, configs.get(hi))}; read off the test classes, so not a choice the "
        "study makes). "
    )
    collapsed = [
        label_of(n, configs.get(n))
        for n in trained
        if (ev.get(f"{n}_seen_mean_distance") or 0.0)
        < COLLAPSED * (ev.get("untrained_seen_mean_distance") or 0.0)
    ]
    if collapsed:
        text += (
            f"Collapsed to nearly one point (mean distance between test images below "
            f"{COLLAPSED:.0%} of the untrained network's, so no margin is met): "
            f"{'; '.join(collapsed)}. "
        )
    if ev.get("plain_unseen_map_at_r") is not None:
        text += (
            f"The plain triplet loss (no anchor, no jitter): unseen {pair('plain')}, seen "
            f"MAP@R {pm('plain_seen_map_at_r')}; with jitter views added to the defaults "
            f"{pair('with_invariance')}; jitter views without the anchor "
            f"{pair('invariance_only')}. "
        )
    text += (
        f"Test triplets of classes 0-4 meeting the margin: "
        f"{v('untrained_seen_margin_satisfied')} untrained, "
        f"{v(f'{seen}_seen_margin_satisfied')} {seen}; of classes 5-9: "
        f"{v('untrained_unseen_margin_satisfied')} and "
        f"{v(f'{unseen}_unseen_margin_satisfied')} {unseen}."
    )
    return text


def _named(row: str, configs: dict[str, dict[str, Any]]) -> str:
    """`` (label)`` of a row that is one of the swept configurations, else nothing."""
    label = label_of(row, configs.get(row))
    return "" if "family defaults" in label else f" ({label})"
