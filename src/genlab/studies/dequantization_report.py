"""Table, figure and summary of the ``dequantization`` study (see dequantization.py), and
:class:`ModeRun`, the record of one trained mode that the study fills and these read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.curves import Curves

__all__ = ["ModeRun", "curves_figure", "evidence_table", "summary"]

COLORS = {"none": "tab:red", "uniform": "tab:blue", "variational": "tab:green"}
IS_BOUND = {
    "none": "NO: a density at the bin centres, not a bound on -log P",
    "uniform": "yes (uniform dequantization bound)",
    "variational": "yes (variational dequantization bound)",
}


@dataclass
class ModeRun:
    """One dequantization mode: its curves and test bits/dim (None when not measured)."""

    mode: str
    curves: Curves
    run: Path | None = None
    diverged: str = ""  # the trainer's message when the loss became non-finite
    test_end: float | None = None  # EMA weights at the last step
    test_best: float | None = None  # weights chosen on validation
    test_as_uniform: float | None = None  # none only: its density under the uniform bound


def evidence_table(
    ev: dict[str, float | None], results: dict[str, ModeRun], pixelwise: float, data: str
) -> Table:
    rows: list[list[str | float | int | None]] = []
    for mode, r in results.items():
        status = IS_BOUND[mode] + (" (training diverged)" if r.diverged else "")
        rows.append(
            [
                mode,
                status,
                ev[f"{mode}_train_bpd_final"],
                ev[f"{mode}_val_bpd_best"],
                ev[f"{mode}_best_step"],
                ev[f"{mode}_test_bpd_end"],
                ev[f"{mode}_test_bpd_selected"],
            ]
        )
    as_bound = ev["none_test_bpd_as_uniform_bound"]
    empty = [None, None, None, None]
    rows.append(["none, scored with the uniform bound", "yes", *empty, as_bound])
    rows.append(["pixelwise baseline (add-one histogram)", "yes (exact)", *empty, pixelwise])
    columns = [
        "dequantization",
        "is the number a bound on the discrete NLL?",
        "train bpd (last)",
        "val bpd (best)",
        "best step",
        "test bpd (last, EMA)",
        "test bpd (validation-selected)",
    ]
    note = (
        f"Bits/dim of {data} (lower is better). Any proper bound is >= 0; the 'none' numbers "
        "are not bounds and may go below 0. 'Scored with the uniform bound': the 'none' "
        "model's density, validation-selected, evaluated as a uniform-dequantization bound."
    )
    return Table("Bits/dim with no, uniform and variational dequantization", columns, rows, note)


def summary(ev: dict[str, float | None], results: dict[str, ModeRun]) -> str:
    def f(key: str) -> str:
        value = ev.get(key)
        return "n/a" if value is None else f"{value:.3f}"

    none = results["none"]
    if none.diverged:
        first = (
            "Without dequantization training stopped on a non-finite loss "
            f"({none.diverged.split(';')[0]}) after its training number had reached "
            f"{f('none_train_bpd_min')} bits/dim, below the floor of 0 of any probability of "
            "discrete data; whether it keeps climbing could not be followed."
        )
    else:
        first = (
            f"Without dequantization the training number fell to {f('none_train_bpd_final')} "
            f"bits/dim (minimum {f('none_train_bpd_min')}; it dropped by "
            f"{f('none_train_drop_last_quarter_bpd')} over the last quarter of training), "
            f"against a floor of 0 for any probability of discrete data; the same density "
            f"scored as a proper (uniform) bound gives {f('none_test_bpd_as_uniform_bound')} "
            "bits/dim on test."
        )
        low, drop = ev.get("none_train_bpd_min"), ev.get("none_train_drop_last_quarter_bpd")
        uniform = ev.get("uniform_train_bpd_final")
        if low is not None and low >= 0 and drop and drop > 0 and uniform is not None:
            first += (
                f" It had not crossed 0 within this budget but was still falling, already "
                f"{uniform - low:.2f} bits/dim below the uniform model's training number "
                f"({uniform:.3f}): seeing it cross 0 takes a longer run."
            )
    second = (
        f" Test bits/dim at the validation-selected weights: uniform "
        f"{f('uniform_test_bpd_selected')}, variational {f('variational_test_bpd_selected')} "
        f"(gain {f('variational_gain_over_uniform_bpd')}; pixelwise baseline "
        f"{f('pixelwise_test_bpd')}). Train-to-test gap at the last step: uniform "
        f"{f('uniform_test_minus_train_bpd')}, variational "
        f"{f('variational_test_minus_train_bpd')}."
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
            if r.test_best is not None and best is not None:
                ax.plot([best[0]], [r.test_best], "*", ms=11, color=c, label=f"{mode}: test (sel.)")
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
        "last EMA weights (dot) and at the validation-selected weights (star). Right: the two "
        "proper bounds on a finer scale."
    )
    return save_figure(fig, out, "dequantization_curves.png", caption)


def _zoom(ax: Any, results: dict[str, ModeRun], pixelwise: float) -> None:
    """y range of the right panel: the bounds' values after the first fifth of training."""
    values = [pixelwise]
    for mode in ("uniform", "variational"):
        r = results[mode]
        horizon = (r.curves.train[-1][0] if r.curves.train else 0) / 5
        values += [v for s, v in r.curves.train + r.curves.val if s >= horizon]
        values += [v for v in (r.test_end, r.test_best) if v is not None]
    lo, hi = min(values), max(values)
    pad = 0.1 * (hi - lo) + 0.02
    ax.set_ylim(lo - pad, hi + pad)
