"""Figures, table and summary of the ``reverse_steps`` study (see reverse_steps.py), and the
two pictures' data: the bound's terms over t and one reverse chain."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.dataset import DataMeta
from genlab.data.scaling import from_centered
from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.viz import image_grid

__all__ = [
    "chain_figure",
    "curve_figure",
    "grids_figure",
    "quality_table",
    "reverse_chain",
    "summary",
    "terms_figure",
    "vlb_terms",
]

Rows = dict[tuple[str, int], dict[str, float]]
# reported beside the verdict, not part of it: how close a fast solver comes to the
# 1000-step ancestral chain (DPM-Solver++ at 20 steps within 25% of its FD)
SOLVER_TARGET = 1.25
LABELS = {
    "ddpm": "DDPM ancestral",
    "ddim": "DDIM (eta 0)",
    "dpmpp": "DPM-Solver++(2M)",
    "oneshot": "one-shot x0",
    "student": "consistency student",
}
COLORS = {
    "ddpm": "tab:blue",
    "ddim": "tab:orange",
    "dpmpp": "tab:green",
    "oneshot": "tab:red",
    "student": "tab:purple",
}


def curve_figure(rows: Rows, floor: dict[str, float], out: Path) -> Figure:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(
        axes,
        ("fd", "precision", "recall"),
        ("FD (lower is better)", "precision", "recall"),
        strict=True,
    ):
        for name in ("ddpm", "ddim", "dpmpp", "student"):
            pts = sorted((k, r[key]) for (s, k), r in rows.items() if s == name)
            if pts:
                ax.plot([k for k, _ in pts], [v for _, v in pts], "o-", color=COLORS[name])
                ax.lines[-1].set_label(LABELS[name])
        if ("oneshot", 1) in rows:
            ax.plot([1], [rows[("oneshot", 1)][key]], "s", color="tab:red", label=LABELS["oneshot"])
        ax.axhline(floor[key], color="gray", ls="--", label="floor (real train images)")
        ax.set_xscale("log")
        ax.set_xlabel("network evaluations (NFE)")
        ax.set_title(title)
        if key == "fd":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    caption = (
        "Sample quality against the number of network evaluations, scored against the test "
        "split; the dashed line is real train images scored the same way. The consistency "
        "student (where distilled) is the same model's ODE learnt from its own steps."
    )
    return save_figure(fig, out, "quality_vs_nfe.png", caption)


def grids_figure(grids: dict[tuple[str, int], torch.Tensor], meta: DataMeta, out: Path) -> Figure:
    plt = pyplot()
    levels = int(meta.levels or 2)
    names = [
        n for n in ("oneshot", "student", "ddpm", "ddim", "dpmpp") if any(s == n for s, _ in grids)
    ]
    steps = sorted({k for _, k in grids})
    fig, axes = plt.subplots(
        len(names), len(steps), figsize=(1.3 * len(steps), 1.5 * len(names)), squeeze=False
    )
    for i, name in enumerate(names):
        for j, k in enumerate(steps):
            ax = axes[i][j]
            ax.axis("off")
            if (name, k) in grids:
                ax.imshow(_gray(image_grid(grids[(name, k)], levels, nrow=2)), cmap="gray")
            if i == 0:
                ax.set_title(f"{k} NFE", fontsize=9)
            if j == 0:
                ax.text(-0.1, 0.5, LABELS[name], transform=ax.transAxes, ha="right", fontsize=8)
    caption = "Eight samples per sampler (rows) and number of network evaluations (columns)."
    return save_figure(fig, out, "sample_grids.png", caption)


def chain_figure(chain: tuple[list[int], list[torch.Tensor]], meta: DataMeta, out: Path) -> Figure:
    plt = pyplot()
    ts, xs = chain
    levels = int(meta.levels or 2)
    fig, axes = plt.subplots(1, len(ts), figsize=(1.1 * len(ts), 3.2))
    for ax, t, x in zip(axes, ts, xs, strict=True):
        ax.imshow(_gray(image_grid(x, levels, nrow=1)), cmap="gray")
        ax.set_title(f"t={t}", fontsize=8)
        ax.axis("off")
    caption = (
        f"One reverse chain (DDPM ancestral, all {ts[0]} steps), x_t at chosen timesteps, "
        "clipped to the data range."
    )
    return save_figure(fig, out, "reverse_chain.png", caption)


def terms_figure(terms: dict[str, list[float]], out: Path) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(terms["t"], terms["bits_per_dim"], "o-", ms=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("bound term (bits/dim)")
    ax.set_title("Per-timestep terms of the variational bound (test images)")
    caption = (
        "Terms L_{t-1} of the bound (L_0, the discretised decoder, at t=1), averaged over 128 "
        "test images, at a log-spaced set of timesteps (per step, not summed over t)."
    )
    return save_figure(fig, out, "vlb_terms.png", caption)


def _gray(grid: np.ndarray) -> np.ndarray:
    return grid[..., 0] if grid.ndim == 3 else grid


def quality_table(rows: Rows, floor: dict[str, float], data: str) -> Table:
    table: list[list[str | float | int | None]] = []
    for (name, k), r in sorted(rows.items(), key=lambda item: (item[0][0] != "oneshot", item[0])):
        table.append(
            [
                LABELS[name],
                k,
                r["fd"],
                r["fd"] / floor["fd"],
                r["kid"],
                r["precision"],
                r["recall"],
                r["sharpness"],
                1000.0 * r["seconds_per_image"],
            ]
        )
    table.append(["floor: real train images", None, floor["fd"], 1.0, floor["kid"]])
    table[-1] += [floor["precision"], floor["recall"], None, None]
    columns = [
        "sampler",
        "NFE",
        "FD",
        "FD / floor",
        "KID",
        "precision",
        "recall",
        "sharpness",
        "ms / image",
    ]
    note = (
        f"Against the test split, in the features of the {data} classifier (trained on the "
        f"{data} train split); same number of samples."
    )
    return Table("Sample quality against the number of network evaluations", columns, table, note)


def summary(ev: dict[str, float | None], floor: dict[str, float]) -> str:
    """What the numbers say, in words; every comparison is read off the evidence."""

    def fd(key: str) -> str:
        v = ev.get(f"{key}_fd")
        return "n/a" if v is None else f"{v:.2f}"

    def best(name: str) -> tuple[int, float] | None:
        pts = [
            (int(k.split("_")[1]), v)
            for k, v in ev.items()
            if k.startswith(f"{name}_")
            and k.endswith("_fd")
            and k.count("_") == 2
            and v is not None
        ]
        return min(pts, key=lambda p: p[1]) if pts else None

    text = (
        f"One network call from pure noise (one-shot, the network's estimate of the posterior "
        f"mean E[x_0 | x_T]) gives FD {fd('oneshot_1')}; two calls give {fd('ddim_2')} (DDIM) "
        f"and {fd('dpmpp_2')} (DPM-Solver++). DPM-Solver++ reaches {fd('dpmpp_10')} "
        f"at 10 calls and {fd('dpmpp_20')} at 20; DDIM {fd('ddim_20')} at 20; the ancestral "
        f"chain {fd('ddpm_10')} at 10 and {fd('ddpm_1000')} at 1000 (floor {floor['fd']:.2f})."
    )
    parts = [(n, best(n)) for n in ("ddpm", "ddim", "dpmpp")]
    found = [f"{LABELS[n]} {b[1]:.2f} at {b[0]}" for n, b in parts if b is not None]
    if found:
        text += " Best of each: " + "; ".join(found) + "."
    if ev.get("student_1_fd") is not None:
        took, teach = ev.get("student_train_s"), ev.get("teacher_train_s")
        cost = (
            f" Its distillation took {took / 60:.1f} min against the teacher's "
            f"{teach / 60:.1f} min of training."
            if took is not None and teach
            else ""
        )
        steps = ev.get("student_steps")
        how = f" ({steps:.0f} steps of consistency distillation)" if steps else ""
        text += (
            f" Distilled from the chain's own ODE{how}, a student skips the steps: FD "
            f"{fd('student_1')} at "
            f"one call, {fd('student_2')} at two and {fd('student_4')} at four, against the "
            f"one-shot's {fd('oneshot_1')}.{cost}"
        )
    anc = ev.get("ddpm_1000_fd")
    ratio = ev.get("dpmpp_20_over_ddpm_1000")
    low, high = ev.get("dpmpp_20_fd_draws_min"), ev.get("dpmpp_20_fd_draws_max")
    mean = ev.get("dpmpp_20_fd_draws_mean")
    if low is not None and high is not None and mean is not None:
        text += (
            f" The deterministic samplers map one noise draw x_T to nearly the same images at "
            f"every step count, so the whole DDIM and DPM-Solver++ grid shares one draw's "
            f"FD; on {ev.get('solver_draws'):.0f} draws DPM-Solver++ at 20 calls scores "
            f"{low:.2f}-{high:.2f} (mean {mean:.2f})."
        )
        sd, se = ev.get("dpmpp_20_fd_draws_sd"), ev.get("dpmpp_20_fd_se")
        if sd is not None and se is not None:
            text += (
                f" Their standard deviation, {sd:.2f}, is the FD noise of one draw that the "
                f"checks' bootstrap SE ({se:.2f}, resampling one draw's samples) estimates."
            )
    if ratio is not None:
        verdict = "within" if ratio <= SOLVER_TARGET else "outside"
        what = "its mean" if mean is not None else "DPM-Solver++ at 20 calls"
        text += (
            f" Apart from the claim, the fast solver: {what} is {ratio:.2f}x the FD of 1000 "
            f"ancestral steps, {verdict} the {(SOLVER_TARGET - 1) * 100:.0f}% target."
        )
        if low is not None and high is not None and anc is not None:
            spread = (high - low) / anc
            if spread > SOLVER_TARGET - 1:
                text += (
                    f" One draw of this many samples moves FD by up to {spread:.0%} of the "
                    "1000-step chain's, more than the target's margin: at this sample size FD "
                    "cannot resolve a 25% gap (the full budget scores more samples)."
                )
    return text


def vlb_terms(model: Any, dataset: Any, n: int = 128) -> dict[str, list[float]]:
    """Mean bound terms over ``n`` test images at a log-spaced set of t, in bits/dim."""
    T = model.schedule.T
    ts = sorted({int(round(v)) for v in torch.logspace(0, math.log10(T), 30).tolist()})
    x = dataset.test.x[:n].to(next(model.parameters()).device)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        terms = model.vlb_terms(x, torch.tensor(ts))
        prior = model.prior_term(x)
    per_dim = math.log(2.0) * dataset.meta.dims
    return {
        "t": [float(t) for t in ts],
        "bits_per_dim": (terms.mean(0) / per_dim).tolist(),
        "prior_bits_per_dim": [float(prior.mean() / per_dim)],
    }


def reverse_chain(model: Any, n: int = 6) -> tuple[list[int], list[torch.Tensor]]:
    """One ancestral chain over all T steps for ``n`` samples: (timesteps, x_t in data
    space) at a dozen timesteps."""
    g = torch.Generator(next(model.parameters()).device).manual_seed(1)
    with torch.inference_mode():
        out = model.generate(
            n, sampler="ddpm", steps=model.schedule.T, generator=g, keep_steps=True
        )
    T = model.schedule.T
    fractions = (1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0)
    show = sorted({round(T * f) for f in fractions}, reverse=True)
    picked = [out.steps[T - t] for t in show]  # the full grid holds x_T, x_{T-1}, ..., x_0
    return show, [from_centered(x.clamp(-1, 1), model.levels).cpu() for x in picked]
