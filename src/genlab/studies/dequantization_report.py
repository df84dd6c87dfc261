"""Table, figure and summary of the ``dequantization`` study (see dequantization.py), and
:class:`ModeRun`, the record of one trained mode that the study fills and these read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.checks import Check
from genlab.studies.curves import Curves

__all__ = ["ModeRun", "curves_figure", "evidence_table", "summary"]

COLORS = {"none": "tab:red", "uniform": "tab:blue", "variational": "tab:green"}
IS_BOUND = {
    "none": "NO: a density at the bin centres, not a probability",
    "uniform": "yes (uniform dequantization bound)",
    "variational": "yes (variational dequantization bound)",
}


@dataclass
class ModeRun:
    """One dequantization mode: its curves and test scores (None when not measured).

    Per-image tensors (N,) in bits/dim over the study's test images, at the
    validation-selected weights: ``density`` ('none' only) the number the model reports,
    ``bound`` the dequantization bound (for 'none': its density under uniform noise) and
    ``discrete`` the importance-weighted bin-integrated estimate of ``-log P(k)`` (with
    uniform noise on a centred box of side ``box_width`` bins, or the variational q)."""

    mode: str
    curves: Curves
    run: Path | None = None
    diverged: str = ""  # the trainer's message when the loss became non-finite
    test_end: float | None = None  # EMA weights at the last step, one draw
    test_end_se: float | None = None
    density: torch.Tensor | None = None
    bound: torch.Tensor | None = None
    discrete: torch.Tensor | None = None
    box_width: float | None = None  # of the importance proposal (uniformly dequantized)

    @property
    def reported(self) -> float | None:
        """Mean test bits/dim the model reports at the selected weights (its training
        objective's number: the density for 'none', the bound otherwise)."""
        shown = self.density if self.mode == "none" else self.bound
        return None if shown is None else float(shown.mean())


def evidence_table(ev: dict[str, float | None], results: dict[str, ModeRun], data: str) -> Table:
    rows: list[list[str | float | int | None]] = []
    for mode, r in results.items():
        status = IS_BOUND[mode] + (" (training diverged)" if r.diverged else "")
        shown = "none_test_density_bpd" if mode == "none" else f"{mode}_test_bound_bpd"
        rows.append(
            [
                mode,
                status,
                ev[f"{mode}_train_bpd_final"],
                ev[f"{mode}_val_bpd_best"],
                ev[f"{mode}_best_step"],
                ev[f"{mode}_test_bpd_end"],
                ev[shown],
                ev[shown + "_se"],
                ev[f"{mode}_test_discrete_bpd"],
                ev[f"{mode}_test_discrete_bpd_se"],
            ]
        )
    empty = [None] * 6
    pixelwise = ev["pixelwise_test_bpd"]
    pixelwise_se = ev["pixelwise_test_bpd_se"]
    rows.append(
        ["pixelwise baseline (add-one histogram)", "yes (exact)", *empty, pixelwise, pixelwise_se]
    )
    columns = [
        "dequantization",
        "is the reported number a bound on the discrete NLL?",
        "train bpd (last)",
        "val bpd (best)",
        "best step",
        "test bpd (last, EMA)",
        "test bpd reported (validation-selected)",
        "SE",
        "test bpd of the discrete images (bin-integrated)",
        "SE",
    ]
    note = (
        f"Bits/dim of {data} (lower is better). Any probability of discrete data gives >= 0; "
        "'reported' is each model's own number (for 'none' its density at the bin centres). "
        "'Bin-integrated': the model's density integrated over each pixel's bin, estimated by "
        "importance sampling over uniform draws in the bin (variational: over its own q). SEs "
        "over test images."
    )
    return Table("Bits/dim with no, uniform and variational dequantization", columns, rows, note)


STATUS = {"pass": "shown", "fail": "excluded", "undecided": "not decided"}


def summary(
    ev: dict[str, float | None], results: dict[str, ModeRun], checks: Mapping[str, Check]
) -> str:
    """The evidence in words; each claim's part ends with its check's status."""

    def f(key: str) -> str:
        value, se = ev.get(key), ev.get(key + "_se")
        if value is None:
            return "n/a"
        shown = f"{value:.3f}" if abs(value) < 1e4 else f"{value:.3g}"
        return shown if not se else f"{shown} +- {se:.2g}"

    def status(name: str) -> str:
        return STATUS[checks[name].status] if name in checks else "not checked"

    none = results["none"]
    low = ev.get("none_train_bpd_min")
    crossed = "below" if low is not None and low < 0 else "not below"
    first = (
        f"Without dequantization the training number reached {f('none_train_bpd_min')} "
        f"bits/dim ({crossed} 0, the floor of any probability of discrete data; the checks "
        "do not wait for it)."
    )
    if none.diverged:
        first += f" Training stopped on a non-finite loss ({none.diverged.split(';')[0]}); " + (
            "no checkpoint was left to score."
            if none.density is None
            else "it is scored at the best weights of its last checkpoint."
        )
    if none.density is not None:
        first += (
            f" On test the 'none' model reports {f('none_test_density_bpd')} bits/dim; the "
            f"probability it gives the same images (its density integrated over each pixel's "
            f"bin) scores {f('none_test_discrete_bpd')}, "
            f"{f('none_discrete_minus_density_bpd')} above the reported number, paired (that "
            f"the reported number is not a probability: "
            f"{status('none_density_not_a_probability')}). Against the uniformly dequantized "
            f"model's {f('uniform_test_discrete_bpd')} that is "
            f"{f('none_minus_uniform_discrete_bpd')} bits/dim worse (that dequantization "
            f"gives the better probability: {status('uniform_beats_none')}). Noise over the "
            f"whole bin (the uniform bound) scores the 'none' density "
            f"{f('none_test_bound_bpd')} bits/dim; its bin-integrated estimate draws from a "
            f"box of {ev.get('none_box_width')} bins around each centre, the side that scored "
            "best on train images."
        )
    second = (
        f" Dequantization bounds at the validation-selected weights: uniform "
        f"{f('uniform_test_bound_bpd')}, variational {f('variational_test_bound_bpd')}: a "
        f"paired gain of {f('variational_gain_over_uniform_bpd')} (that variational beats "
        f"uniform: {status('variational_gains')}); in bin-integrated bits/dim "
        f"{f('variational_gain_over_uniform_discrete_bpd')}; pixelwise baseline "
        f"{f('pixelwise_test_bpd')}."
    )
    return first + second


def curves_figure(results: dict[str, ModeRun], pixelwise: float, out: Path, data: str) -> Figure:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, modes in zip(axes, [list(results), ["uniform", "variational"]], strict=True):
        for mode in modes:
            r, c = results[mode], COLORS[mode]
            if r.curves.train:
                steps, values = zip(*r.curves.train, strict=True)
                marker = "x" if len(steps) < 3 else None
                ax.plot(steps, values, color=c, lw=1, marker=marker, label=f"{mode}: train")
            if r.diverged:
                ax.annotate(
                    f"{mode}: {r.diverged.split(':')[0]}",
                    (0.02, 0.04),
                    color=c,
                    xycoords="axes fraction",
                    fontsize=8,
                )
            if r.curves.val:
                steps, values = zip(*r.curves.val, strict=True)
                ax.plot(steps, values, "--", color=c, lw=1.5, label=f"{mode}: val")
            last = r.curves.train[-1][0] if r.curves.train else 0
            if r.test_end is not None:
                ax.plot([last], [r.test_end], "o", color=c, label=f"{mode}: test (last)")
            best = r.curves.best_val()
            if r.reported is not None and best is not None:
                ax.plot([best[0]], [r.reported], "*", ms=11, color=c, label=f"{mode}: test (sel.)")
            if mode == "none" and r.discrete is not None and best is not None:
                shown = float(r.discrete.mean())
                ax.plot([best[0]], [shown], "P", ms=9, color=c, label="none: bin-integrated")
        ax.axhline(pixelwise, color="grey", ls=":", lw=1, label="pixelwise (test)")
        ax.set_xlabel("training step")
        ax.set_ylabel("bits/dim")
    axes[0].axhline(0.0, color="black", lw=0.8)
    axes[0].set_title("all three (a proper bound never goes below 0)")
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].set_title("uniform vs variational (proper bounds)")
    axes[1].legend(fontsize=7)
    _zoom(axes[1], results, pixelwise)
    fig.tight_layout()
    caption = (
        f"Bits/dim of {data} while training the same flow with no, uniform and variational "
        "dequantization: train (solid, means over 25 steps), validation (dashed), test at the "
        "last EMA weights (dot) and at the validation-selected weights (star; for 'none' also "
        "the probability its density gives the test images' bins, plus). Right: the two proper "
        "bounds on a finer scale."
    )
    return save_figure(fig, out, "dequantization_curves.png", caption)


def _zoom(ax: Any, results: dict[str, ModeRun], pixelwise: float) -> None:
    """y range of the right panel: the bounds' values after the first fifth of training."""
    values = [pixelwise]
    for mode in ("uniform", "variational"):
        r = results[mode]
        horizon = (r.curves.train[-1][0] if r.curves.train else 0) / 5
        values += [v for s, v in r.curves.train + r.curves.val if s >= horizon]
        values += [v for v in (r.test_end, r.reported) if v is not None]
    lo, hi = min(values), max(values)
    pad = 0.1 * (hi - lo) + 0.02
    ax.set_ylim(lo - pad, hi + pad)
