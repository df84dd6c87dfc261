"""Tables and the cost figure of the ``coupling`` study (see coupling.py)."""

from __future__ import annotations

from pathlib import Path

from genlab.studies.base import Figure, Table, pyplot, save_figure
from genlab.studies.density2d import DensityFit
from genlab.studies.jacobian import LAYERS, LogdetCheck

__all__ = ["cost_figure", "density_table", "logdet_table"]


def logdet_table(logdets: list[LogdetCheck]) -> Table:
    rows = [
        [
            c.layer,
            c.dim,
            c.max_abs_diff,
            c.exact_s * 1e6,
            c.brute_s * 1e3,
            c.slogdet_s * 1e3,
            c.brute_over_exact,
            c.brute_over_exact_se,
        ]
        for c in logdets
    ]
    cols = ["layer", "D", "max |exact - brute| (nats)", "exact (µs, one example)"]
    cols += ["brute force (ms, one example)", "of which slogdet (ms)", "brute / exact", "SE"]
    note = (
        "Both timed on the same examples, one at a time: times are medians over the "
        "examples; brute / exact is the geometric mean of each example's ratio, with its "
        "SE from their spread."
    )
    return Table(
        "Exact log-det against the brute-force Jacobian determinant (float64)", cols, rows, note
    )


def density_table(fits: list[DensityFit]) -> Table:
    rows = [
        [f.dataset, f.preset, f.test_nats_per_dim, f.gaussian_nats_per_dim, f.grid_mass]
        for f in fits
    ]
    cols = ["toy set", "preset", "flow test NLL (nats/dim)", "Gaussian fit test NLL (nats/dim)"]
    cols.append("mass on the pictured box")
    note = "NLL of continuous data is -log density: lower is better, and it can be negative."
    return Table("Learned 2-D densities", cols, rows, note)


def cost_figure(logdets: list[LogdetCheck], out: Path, tolerance: float) -> Figure:
    plt = pyplot()
    fig, (ax_t, ax_d) = plt.subplots(1, 2, figsize=(10, 4))
    colors = dict(zip(LAYERS, ["tab:blue", "tab:orange", "tab:green"], strict=True))
    for kind in LAYERS:
        rows = [c for c in logdets if c.layer == kind]
        dims = [c.dim for c in rows]
        c = colors[kind]
        ax_t.loglog(dims, [r.exact_s for r in rows], "o-", color=c, label=f"{kind}: exact")
        ax_t.loglog(dims, [r.brute_s for r in rows], "s--", color=c, label=f"{kind}: brute force")
        diffs = [max(r.max_abs_diff, 1e-18) for r in rows]
        ax_d.loglog(dims, diffs, "o-", color=c, label=kind)
    top = max(c.dim for c in logdets)
    anchor = max(c.brute_s for c in logdets if c.dim == top)
    for p, style in ((1, ":"), (2, "--"), (3, "-.")):
        guide = [anchor * (d / top) ** p for d in (top / 8, top)]
        ax_t.loglog([top / 8, top], guide, style, color="grey", lw=1, label=f"slope D^{p}")
    ax_t.set_xscale("log", base=2)
    ax_t.set_xlabel("dimension D")
    ax_t.set_ylabel("seconds, one example")
    ax_t.set_title("cost of the log-det")
    ax_t.legend(fontsize=6, loc="upper left", ncol=2)
    ax_d.set_xscale("log", base=2)
    ax_d.axhline(tolerance, color="grey", ls=":", label="tolerance")
    ax_d.set_xlabel("dimension D")
    ax_d.set_ylabel("max |exact - brute| (nats)")
    ax_d.set_title("agreement (float64; 1e-18 plotted for exact 0)")
    ax_d.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    caption = (
        "Left: time of the exact log-det of one example (the layer's forward pass, solid) "
        "and of the brute force on the same example (autograd Jacobian + slogdet, dashed) "
        "against the dimension, log-log (medians over the examples). Right: largest "
        "absolute difference between the two log-dets."
    )
    return save_figure(fig, out, "logdet_cost.png", caption)
