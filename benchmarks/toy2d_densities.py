"""Learned 2-D densities: coupling flows (triangular Jacobian, exact log-det) beside flow
matching (free-form Jacobian, log p through the ODE with the exact divergence), on the
toy sets of FFJORD, at equal steps and batch.

For each toy set: ``genlab``'s flow presets (``--presets``, the coupling study's density
settings: hidden 128, 4 coupling pairs, no dropout) and the flowmatch family (velocity MLP,
linear path) are trained ``--steps`` steps at batch 256 with the one trainer; then each
model's test NLL in nats/dim (the density of continuous data: flows exactly, flow matching
through dopri5 at tolerance 1e-4 with the exact divergence), the mass its density puts
in the plotted box (a proper density holds about 1 there), a full-covariance Gaussian's
NLL as the floor of learning anything, and the training seconds. One picture: the test
points (top row) and each model's exp(-nll) on a 120 x 120 grid.

Results: results/toy2d_densities.json and results/toy2d_densities.png.

    python benchmarks/toy2d_densities.py [--steps 1500] [--presets nsf,realnvp]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from genlab.inference import evaluate_run
from genlab.runs import load_data, load_run, make_config
from genlab.studies.base import train_quietly
from genlab.studies.density2d import (
    DensityFit,
    DensitySettings,
    density_figure,
    density_on_grid,
    fit_densities,
    gaussian_nats_per_dim,
)

RESULTS = Path(__file__).parent / "results"
WORK = Path("runs/bench-toy2d")
DATASETS = ("moons", "8gaussians", "checkerboard", "2spirals")


def fit_flowmatch(settings: DensitySettings, name: str) -> tuple[DensityFit, float]:
    overrides = {
        "data.name": f"toy2d:{name}",
        "train.steps": settings.steps,
        "train.batch_size": settings.batch_size,
    }
    started = time.perf_counter()
    run = train_quietly("flowmatch", overrides, WORK / f"flowmatch-{name}", "cpu")
    seconds = time.perf_counter() - started
    loaded = load_run(run)
    bpd = evaluate_run(loaded, ["bpd"])["bpd"]
    data = load_data(make_config("flowmatch", overrides=overrides).data)
    density, mass = density_on_grid(loaded.model, settings.grid, settings.bound)
    fit = DensityFit(
        dataset=name,
        preset="flowmatch",
        run=run,
        test_nats_per_dim=bpd * math.log(2.0),
        gaussian_nats_per_dim=gaussian_nats_per_dim(data.train.x, data.test.x),
        grid_mass=mass,
        density=density,
    )
    return fit, seconds


def flowmatch_protocol(run: Path) -> str:
    """The flowmatch run's settings as its config.yaml records them."""
    cfg = load_run(run).config
    m, t = cfg.model, cfg.train
    return (
        f"the family's defaults for vector data (velocity MLP {m.depth} x {m.hidden}, "
        f"{m.path} path, {m.time_sampling.replace('_', '-')} times, EMA {t.ema} weights, "
        f"lr {t.lr}), NLL through {m.nll_solver} at tolerance {m.nll_tolerance} with the "
        f"{m.nll_divergence} divergence"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--presets", default="nsf,realnvp")
    args = p.parse_args()
    torch.set_num_threads(1)
    presets = tuple(args.presets.split(","))
    settings = DensitySettings(DATASETS, presets=presets, steps=args.steps)
    started = time.perf_counter()
    fits = fit_densities(settings, WORK, "cpu")
    flow_seconds = time.perf_counter() - started
    fm_seconds = {}
    for name in DATASETS:
        fit, seconds = fit_flowmatch(settings, name)
        fits.append(fit)
        fm_seconds[name] = seconds
    shown = dataclasses.replace(settings, presets=(*presets, "flowmatch"))
    RESULTS.mkdir(exist_ok=True)
    fig = density_figure(fits, shown, RESULTS)
    (RESULTS / fig.file).replace(RESULTS / "toy2d_densities.png")
    rows = [
        {
            "dataset": f.dataset,
            "model": f.preset,
            "test_nats_per_dim": f.test_nats_per_dim,
            "gaussian_nats_per_dim": f.gaussian_nats_per_dim,
            "grid_mass": f.grid_mass,
        }
        for f in fits
    ]
    out = {
        "protocol": f"toy2d {', '.join(DATASETS)}: {args.steps} steps, batch "
        f"{settings.batch_size}, one thread; flows: presets {', '.join(presets)}, hidden "
        f"{settings.hidden}, model.steps {settings.flow_steps}, no dropout, weights chosen "
        f"on validation; flowmatch: {flowmatch_protocol(WORK / f'flowmatch-{DATASETS[0]}')}"
        "; test NLL on the test split (5000 points)",
        "flow_train_and_eval_seconds": flow_seconds,
        "flowmatch_train_seconds": fm_seconds,
        "rows": rows,
        "figure": "toy2d_densities.png",
    }
    (RESULTS / "toy2d_densities.json").write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['dataset']:13s} {r['model']:10s} {r['test_nats_per_dim']:.3f} nats/dim "
            f"(Gaussian {r['gaussian_nats_per_dim']:.3f}), mass {r['grid_mass']:.3f}"
        )


if __name__ == "__main__":
    main()
