"""Figures, tables and summary of the ``vae_vs_diffusion`` study (see vae_vs_diffusion.py).

Every number shown is read off the evidence (``{row}_{key}``, ``floor_{key}``), so the
page shows nothing results.json does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from matplotlib.ticker import NullFormatter

from genlab.metrics.spectrum import BANDS
from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.checks import Check
from genlab.viz import image_grid

__all__ = [
    "HALVES",
    "LABELS",
    "blur_table",
    "grids_figure",
    "held_out",
    "models_text",
    "picture",
    "quality_table",
    "scores_figure",
    "spectrum_figure",
    "summary",
]

Ev = Mapping[str, float | None]
LABELS = {
    "data": "test images",
    "vae_mean": "VAE, decoder mean",
    "vae_sample": "VAE, decoder sample (as drawn)",
    "flow": "flow (family default)",
    "diffusion_20": "diffusion, DPM-Solver++ 20",
    "student_1": "consistency student, 1 pass",
    "diffusion_1000": "diffusion, DDPM all T (1000)",
}
# which half of the claim each check supports, and on which VAE output
HALVES = {
    "vae_samples_blurrier": "(1) blurrier, judged on the VAE's samples as drawn: what the "
    "claim says of its samples",
    "vae_mean_blurrier": "(1) blurrier, judged on the VAE's decoder mean: the averaging "
    "the explanation names",
    "diffusion_fd_lower": "(2) further from the data, judged on the VAE's samples as drawn",
    "one_pass_student_sharper": "(3) one pass each: the diffusion model's distilled "
    "student against the VAE's samples as drawn",
}
# the rows each check reads (the diffusion row is read by all three)
READ_BY = {
    "vae_sample": "(1) as drawn, (2), (3)",
    "vae_mean": "(1) decoder mean",
    "diffusion_20": "(1), (2)",
    "student_1": "(3)",
}
FAMILY_OF = {"vae_mean": "vae", "vae_sample": "vae", "flow": "flow", "student_1": "student"}
COLORS = {"vae": "tab:orange", "flow": "tab:purple", "diffusion": "tab:green", "student": "tab:red"}
FLOOR = "floor: real train images"
CORNER = 0.5 * math.sqrt(2)  # the highest spatial frequency of an image, cycles per pixel


def grids_figure(grids: dict[str, torch.Tensor], levels: int, out: Path) -> Figure:
    """Sixteen images per row of ``grids`` ((16, C, H, W) in 0..levels-1), side by side."""
    plt = pyplot()
    names = [n for n in LABELS if n in grids]
    fig, axes = plt.subplots(1, len(names), figsize=(2.1 * len(names), 2.6))
    for ax, name in zip(axes, names, strict=True):
        grid = image_grid(grids[name], levels, nrow=4)  # (H', W', C)
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray")
        ax.set_title(LABELS[name], fontsize=8)
        ax.axis("off")
    caption = (
        "Sixteen samples of each model next to sixteen test images (same seed for every "
        "row): the VAE's decoder mean is smooth, its decoder sample the same blur with "
        "independent pixel noise on top."
    )
    return save_figure(fig, out, "sample_grids.png", caption)


def _family(name: str) -> str:
    return FAMILY_OF.get(name, "diffusion")


def _num(ev: Ev, key: str) -> float:
    got = ev.get(key)
    return float("nan") if got is None else float(got)


def _rows(ev: Ev) -> list[str]:
    return [n for n in LABELS if n != "data" and ev.get(f"{n}_fd") is not None]


def scores_figure(ev: Ev, out: Path) -> Figure:
    """FD, edge ratio (both with 2-SE bars), time per image and test bits/dim."""
    plt = pyplot()
    names = _rows(ev)
    panels = (
        ("fd", "FD against test (lower is better)", True),
        ("edge_ratio", "coherent edge energy / data's (1 = data)", False),
        ("seconds_per_image", "sampling time per image (s)", True),
    )
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained")
    for ax, (key, title, log) in zip(axes, panels, strict=False):
        values = [_num(ev, f"{n}_{key}") for n in names]
        ses = [2 * _num(ev, f"{n}_{key}_se") for n in names] if key != "seconds_per_image" else None
        colors = [COLORS[_family(n)] for n in names]
        bars = ax.barh(range(len(names)), values, xerr=ses, color=colors, capsize=2)
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
        ax.margins(x=0.25)  # room for the value labels
        ax.set_yticks(range(len(names)), [LABELS[n] for n in names], fontsize=8)
        ax.invert_yaxis()
        if key != "seconds_per_image" and ev.get(f"floor_{key}") is not None:
            ax.axvline(_num(ev, f"floor_{key}"), color="gray", ls="--", label=FLOOR)
            ax.legend(fontsize=7)
        if log:  # decade labels only: minor ones overlap when the values span < 2 decades
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=9)
    fams = [f for f in ("vae", "flow", "diffusion") if ev.get(f"{f}_test_bpd") is not None]
    bars = axes[3].barh(range(len(fams)), [_num(ev, f"{f}_test_bpd") for f in fams])
    axes[3].bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axes[3].margins(x=0.2)
    for patch, fam in zip(axes[3].patches, fams, strict=True):
        patch.set_color(COLORS[fam])
    bound = {"vae": "VAE (IWAE)", "flow": "flow (exact)", "diffusion": "diffusion (bound)"}
    axes[3].set_yticks(range(len(fams)), [bound[f] for f in fams], fontsize=8)
    axes[3].invert_yaxis()
    axes[3].set_title("test bits/dim (lower is better)", fontsize=9)
    for ax in axes[1:3]:
        ax.tick_params(labelleft=False)
    caption = (
        "Side by side: FD against the test split (check (2) reads the VAE sample and "
        "diffusion 20 rows), coherent edge energy over the data's (checks (1) read the VAE "
        "sample, VAE mean and diffusion 20 rows; per-pixel noise cannot raise it), bars "
        "+- 2 SE over the samples; sampling time per image (log scale) and test bits/dim."
    )
    return save_figure(fig, out, "scores.png", caption)


def spectrum_figure(ev: Ev, out: Path) -> Figure:
    """Per row: mean power in each radial band, and the coherent edge energy, over the
    data's (log scale, bars +- 2 SE)."""
    plt = pyplot()
    names = _rows(ev)
    groups = [*(f"power_{b}_ratio" for b in BANDS), "edge_ratio"]
    ticks = [f"{b} band\n{lo:.2f}-{min(hi, CORNER):.2f} c/px" for b, (lo, hi) in BANDS.items()]
    ticks.append("coherent edges")
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        xs = [g + (k - (len(names) - 1) / 2) * width for g in range(len(groups))]
        values = [_num(ev, f"{name}_{g}") for g in groups]
        ses = [2 * _num(ev, f"{name}_{g}_se") for g in groups]
        # a log axis shows no bar for a ratio at or below 0 (an edge energy can be)
        shown = [v if v > 0 else float("nan") for v in values]
        ax.bar(
            xs,
            shown,
            width,
            yerr=ses,
            capsize=2,
            label=LABELS[name],
            color=COLORS[_family(name)],
            alpha=0.45 + 0.55 * (k % 2),
        )
    ax.axhline(1.0, color="gray", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), ticks, fontsize=8)
    ax.set_ylabel("over the data's (1 = data)")
    ax.legend(fontsize=7, ncol=2)
    caption = (
        "Where the power sits: mean radially averaged power in each band of spatial "
        "frequency (cycles per pixel) over the test images', and the coherent edge energy "
        "over theirs. Independent pixel noise adds a flat spectrum, which shows as excess "
        "power in the high band (the VAE sample), yet adds no coherent edge energy; a blur "
        "shows as a deficit in the mid and high bands and in edge energy."
    )
    return save_figure(fig, out, "spectrum.png", caption)


def _ms(ev: Ev, name: str) -> float | None:
    seconds = ev.get(f"{name}_seconds_per_image")
    return None if seconds is None else 1000.0 * seconds


def quality_table(ev: Ev, data: str) -> Table:
    """FD (with SE), KID, precision, recall, time per image, bits/dim, training time."""
    keys = ("fd", "fd_se", "kid", "precision", "recall")
    rows: list[list[str | float | int | None]] = []
    for name in _rows(ev):
        fam = _family(name)
        rows.append([LABELS[name], *(ev.get(f"{name}_{k}") for k in keys), _ms(ev, name)])
        rows[-1] += [ev.get(f"{fam}_test_bpd"), ev.get(f"{fam}_train_s")]
    rows.append([FLOOR, *(ev.get(f"floor_{k}") for k in keys), None, None, None])
    columns = ["model", "FD", "FD SE", "KID", "precision", "recall", "ms / image"]
    columns += ["test bits/dim", "train s"]
    note = (
        f"Samples against the test split in the {data} classifier's features; FD SE: "
        "bootstrap over the samples. Check (2) reads FD of the VAE sample and diffusion 20 "
        "rows. Bits/dim: the VAE's importance-sampled bound, the diffusion model's "
        "variational bound, the flow's exact likelihood (uniform dequantization bound), all "
        "in bits of the discrete data."
    )
    return Table("VAE, flow and diffusion on the same data and budget", columns, rows, note)


def blur_table(ev: Ev) -> Table:
    """Edge ratio (with SE), power per band over the data's, the Laplacian ratio, and
    which check reads the row."""
    keys = ("edge_ratio", "edge_ratio_se", *(f"power_{b}_ratio" for b in BANDS), "sharpness")
    rows: list[list[str | float | int | None]] = [
        [LABELS[n], *(ev.get(f"{n}_{k}") for k in keys), READ_BY.get(n, "")] for n in _rows(ev)
    ]
    rows.append([FLOOR, *(ev.get(f"floor_{k}") for k in keys), ""])
    columns = ["model", "edge ratio", "edge SE", *(f"power {b}" for b in BANDS)]
    columns += ["Laplacian (counts noise)", "read by check"]
    bands = ", ".join(f"{b} {lo:.2f}-{min(hi, CORNER):.2f}" for b, (lo, hi) in BANDS.items())
    note = (
        "Every number over the test images' (1 = as the data). Edge ratio: coherent edge "
        "energy (a gradient times the same gradient one pixel along the edge), which "
        "independent per-pixel noise leaves unchanged in expectation; SE over the samples. "
        f"Power: radially averaged power spectrum per band ({bands} cycles per pixel). "
        "Laplacian: mean squared Laplacian, which counts noise as sharpness (shown, not "
        "checked). Checks (1) read the edge ratio of the rows marked."
    )
    title = "Blur: coherent edges and the power spectrum against the data"
    return Table(title, columns, rows, note)


def _check_line(name: str, check: Check) -> str:
    return f"{name} [{HALVES.get(name, '')}]: {check.status}, {check.describe()}"


def summary(ev: Ev, checks: Mapping[str, Check]) -> str:
    """What the numbers say, in words; every comparison is read off the evidence."""

    def v(key: str, fmt: str = ".2f") -> str:
        x = ev.get(key)
        return "n/a" if x is None else format(x, fmt)

    def pm(key: str) -> str:
        return f"{v(key)} +- {v(key + '_se')}"

    flow = f"flow {pm('flow_fd')}, " if ev.get("flow_fd") is not None else ""
    slow = "DDPM 1000 timed, not scored at this budget"
    slow = f"{pm('diffusion_1000_fd')} (DDPM 1000)" if ev.get("diffusion_1000_fd") else slow
    text = (
        f"FD against the test split (+- SE): VAE samples as drawn {pm('vae_sample_fd')}, "
        f"decoder mean {pm('vae_mean_fd')}, {flow}diffusion "
        f"{pm('diffusion_20_fd')} (DPM-Solver++ 20) and {slow}; real train images "
        f"{v('floor_fd')}. Coherent edge energy over the data's "
        f"(+- SE; per-pixel noise cannot raise it): VAE as drawn {pm('vae_sample_edge_ratio')}, "
        f"decoder mean {pm('vae_mean_edge_ratio')}, diffusion {pm('diffusion_20_edge_ratio')}. "
        f"The Laplacian, which counts noise as sharpness, puts the VAE sample at "
        f"{v('vae_sample_sharpness')} and its mean at {v('vae_mean_sharpness')}; the high "
        f"band of the power spectrum shows the same noise ({v('vae_sample_power_high_ratio')} "
        f"of the data's as drawn, {v('vae_mean_power_high_ratio')} at the mean). "
    )
    text += "Checks: " + "; ".join(_check_line(n, c) for n, c in checks.items()) + ". "
    flow = f"flow {v('flow_test_bpd', '.3f')} (exact), " if ev.get("flow_test_bpd") else ""
    text += (
        f"Test bits/dim: VAE {v('vae_test_bpd', '.3f')} (importance-sampled bound), {flow}"
        f"diffusion {v('diffusion_test_bpd', '.3f')} (variational bound). "
    )
    if ev.get("student_1_fd") is not None:
        took = ev.get("student_train_s")
        cost = f", distilled in {took / 60:.1f} min" if took is not None else ""
        text += (
            f"One pass each: the consistency student of the diffusion model{cost}, scores FD "
            f"{pm('student_1_fd')} and edge ratio {pm('student_1_edge_ratio')} against the "
            f"VAE sample's {pm('vae_sample_fd')} and {pm('vae_sample_edge_ratio')}, at "
            f"{1000 * _num(ev, 'student_1_seconds_per_image'):.3f} ms per image "
            f"({v('student_over_vae_time', '.1f')}x the VAE's decoder pass). "
        )
    speed = ev.get("ddpm1000_over_vae_time")
    if speed is not None:
        text += (
            f"Measured, not checked (one network pass against 1000): one decoder pass takes "
            f"{1000 * _num(ev, 'vae_sample_seconds_per_image'):.3f} ms per image, "
            f"{speed:.0f} times less than 1000 denoising steps."
        )
    return text


def picture(path: Path, out: Path) -> Figure:
    captions = {
        "reconstructions": "VAE reconstructions: each test image followed by the decoder mean "
        "at its posterior mean: what the latent code keeps and what it averages away.",
        "interpolations": "VAE decoder means along straight lines in latent space between "
        "pairs of test images.",
    }
    return Figure(str(path.relative_to(out)), captions[path.stem])


def models_text(configs: dict[str, Any], data: str) -> str:
    """The models as the family defaults resolve them on ``data``."""
    vae, diff = configs["vae"].model, configs["diffusion"].model
    flow = configs["flow"].model if "flow" in configs else None
    shown = f"flow ({flow.preset}, {flow.dequantization} dequantization), " if flow else ""
    return (
        f"family defaults on {data}: vae ({vae.network.upper()}, {vae.likelihood}, latent "
        f"{vae.latent}), {shown}diffusion (U-Net {diff.channels} channels, {diff.schedule} "
        f"schedule, {diff.prediction} prediction, EMA)"
    )


def held_out(configs: dict[str, Any]) -> str:
    """Which families hold out part of train for weight selection, from their configs."""
    shares = {f: cfg.train.val_fraction for f, cfg in configs.items()}
    held = [f"{f} holds out {v:.0%} of train for weight selection" for f, v in shares.items() if v]
    whole = [f"{f} trains on all of train" for f, v in shares.items() if not v]
    return ", ".join(held + whole)
