"""Figures, table and summary of the ``vae_vs_diffusion`` study (see vae_vs_diffusion.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.ticker import NullFormatter

from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.viz import image_grid

__all__ = ["LABELS", "grids_figure", "quality_table", "scores_figure", "summary"]

LABELS = {
    "data": "test images",
    "vae_mean": "VAE, decoder mean",
    "vae_sample": "VAE, decoder sample",
    "flow": "flow (family default)",
    "diffusion_20": "diffusion, DPM-Solver++ 20",
    "diffusion_1000": "diffusion, DDPM all T (1000)",
}
FAMILY_OF = {"vae_mean": "vae", "vae_sample": "vae", "flow": "flow"}
COLORS = {"vae": "tab:orange", "flow": "tab:purple", "diffusion": "tab:green"}


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
        "row): the VAE's decoder mean is smooth, its decoder sample speckled."
    )
    return save_figure(fig, out, "sample_grids.png", caption)


def _family(name: str) -> str:
    return FAMILY_OF.get(name, "diffusion")


def scores_figure(ev: dict[str, float | None], out: Path) -> Figure:
    plt = pyplot()
    names = [n for n in LABELS if n != "data" and ev.get(f"{n}_fd") is not None]
    panels = (
        ("fd", "FD against test (lower is better)", "floor_fd", True),
        ("sharpness", "sharpness ratio (1 = as sharp as data)", None, False),
        ("seconds_per_image", "sampling time per image (s)", None, True),
    )
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained")
    for ax, (key, title, ref, log) in zip(axes, panels, strict=False):
        values = [float(ev[f"{n}_{key}"] or 0.0) for n in names]
        bars = ax.barh(range(len(names)), values, color=[COLORS[_family(n)] for n in names])
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
        ax.margins(x=0.25)  # room for the value labels
        ax.set_yticks(range(len(names)), [LABELS[n] for n in names], fontsize=8)
        ax.invert_yaxis()
        if ref is not None and ev.get(ref) is not None:
            ax.axvline(float(ev[ref] or 0.0), color="gray", ls="--", label="real train images")
            ax.legend(fontsize=7)
        if key == "sharpness":
            ax.axvline(1.0, color="gray", ls="--")
        if log:  # decade labels only: minor ones overlap when the values span < 2 decades
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=9)
    fams = [f for f in ("vae", "flow", "diffusion") if ev.get(f"{f}_test_bpd") is not None]
    bars = axes[3].barh(range(len(fams)), [float(ev[f"{f}_test_bpd"] or 0) for f in fams])
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
        "Side by side: FD against the test split, sharpness ratio (high-frequency energy of "
        "samples over that of data), sampling time per image (log scale) and test bits/dim."
    )
    return save_figure(fig, out, "scores.png", caption)


def quality_table(
    rows: dict[str, dict[str, float]],
    floor: dict[str, float],
    bpd: dict[str, float],
    train_s: dict[str, float],
    data: str,
) -> Table:
    table: list[list[str | float | int | None]] = []
    for name in LABELS:
        if name not in rows:
            continue
        r, fam = rows[name], _family(name)
        table.append(
            [
                LABELS[name],
                r["fd"],
                r["kid"],
                r["precision"],
                r["recall"],
                r["sharpness"],
                1000.0 * r["seconds_per_image"],
                bpd.get(fam),
                train_s.get(fam),
            ]
        )
    table.append(["floor: real train images", floor["fd"], floor["kid"]])
    table[-1] += [floor["precision"], floor["recall"], None, None, None, None]
    columns = [
        "model",
        "FD",
        "KID",
        "precision",
        "recall",
        "sharpness",
        "ms / image",
        "test bits/dim",
        "train s",
    ]
    note = (
        f"Samples against the test split in the {data} classifier's features. Bits/dim: the "
        "VAE's importance-sampled bound, the diffusion model's variational bound, the flow's "
        "exact likelihood (uniform dequantization bound), all in bits of the discrete data."
    )
    return Table("VAE, flow and diffusion on the same data and budget", columns, table, note)


def summary(ev: dict[str, float | None]) -> str:
    """What the numbers say, in words; every comparison is read off the evidence."""

    def v(key: str, fmt: str = ".2f") -> str:
        x = ev.get(key)
        return "n/a" if x is None else format(x, fmt)

    text = (
        f"FD against the test split: VAE decoder mean {v('vae_mean_fd')}, decoder sample "
        f"{v('vae_sample_fd')}, flow {v('flow_fd')}, diffusion {v('diffusion_20_fd')} "
        f"(DPM-Solver++ 20) and {v('diffusion_1000_fd')} (DDPM 1000); real train images "
        f"{v('floor_fd')}. Sharpness ratio (1 = data): VAE mean {v('vae_mean_sharpness')}, "
        f"VAE sample {v('vae_sample_sharpness')}, diffusion {v('diffusion_20_sharpness')}. "
    )
    mean_s, sample_s = ev.get("vae_mean_sharpness"), ev.get("vae_sample_sharpness")
    if mean_s is not None and sample_s is not None and mean_s < 1 < sample_s:
        text += (
            "The decoder mean lacks high frequencies (blur) and drawing each pixel "
            "independently adds them back as noise, not as edges. "
        )
    text += (
        f"Test bits/dim: VAE {v('vae_test_bpd', '.3f')} (importance-sampled bound), flow "
        f"{v('flow_test_bpd', '.3f')} (exact), diffusion {v('diffusion_test_bpd', '.3f')} "
        f"(variational bound). "
    )
    ratio = ev.get("ddpm1000_over_vae_time")
    if ratio is not None:
        text += (
            f"One decoder pass takes {1000 * (ev['vae_sample_seconds_per_image'] or 0):.3f} ms "
            f"per image, {ratio:.0f} times less than 1000 denoising steps."
        )
    return text
