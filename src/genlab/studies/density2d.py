"""Learned densities of flows on the 2-D toy data sets, as numbers and pictures.

On continuous data ``model.nll(x)`` is ``-log p(x)`` (nats, a density), so the
learned density on a grid is ``exp(-nll)``; its sum times the cell area is the mass
the flow puts inside the grid's box (about 1 when the flow is a proper density and
the data lie inside the box). Test NLL is reported in nats/dim (D = 2), next to a
full-covariance Gaussian fitted to the training points: the flow must beat it to have
learned anything beyond the first two moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.inference import evaluate_run
from genlab.runs import load_data, load_run, make_config
from genlab.studies.base import Figure, pyplot, save_figure, say, train_quietly

__all__ = [
    "DensityFit",
    "DensitySettings",
    "density_figure",
    "density_on_grid",
    "fit_densities",
    "gaussian_nats_per_dim",
]


@dataclass(frozen=True)
class DensitySettings:
    """Which flows to fit on which toy sets, and for how long.

    ``dropout`` is 0: the toy sets hold 20,000 fresh points, nothing to regularise.
    """

    datasets: tuple[str, ...]
    presets: tuple[str, ...] = ("nsf",)
    steps: int = 1500
    batch_size: int = 256
    hidden: int = 128
    flow_steps: int = 4  # model.steps: coupling pairs
    grid: int = 120  # grid points per side
    bound: float = 4.5  # the grid covers [-bound, bound]^2


@dataclass(frozen=True)
class DensityFit:
    """One flow fitted to one toy set: test NLL (nats/dim), grid mass, density grid."""

    dataset: str
    preset: str
    run: Path
    test_nats_per_dim: float
    gaussian_nats_per_dim: float
    grid_mass: float
    density: np.ndarray  # (grid, grid), rows = y from -bound to bound


def gaussian_nats_per_dim(train: torch.Tensor, test: torch.Tensor) -> float:
    """Mean -log N(test; mean, cov of train) in nats per dimension (N, D) inputs."""
    train, test = train.double(), test.double()
    mean = train.mean(0)
    cov = torch.cov(train.T) + 1e-9 * torch.eye(train.shape[1], dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return float(-dist.log_prob(test).mean()) / train.shape[1]


@torch.no_grad()
def density_on_grid(model: Any, grid: int, bound: float) -> tuple[np.ndarray, float]:
    """``exp(-model.nll)`` on a ``grid`` x ``grid`` lattice of cell centres over
    [-bound, bound]^2 (rows = y ascending) and the mass it holds (sum x cell area)."""
    device = next(model.parameters()).device
    step = 2 * bound / grid
    axis = torch.linspace(-bound + step / 2, bound - step / 2, grid, dtype=torch.float32)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    nll = torch.cat([model.nll(chunk.to(device)).cpu() for chunk in pts.split(4096)])
    density = torch.exp(-nll.double()).reshape(grid, grid)
    return density.numpy(), float(density.sum()) * step * step


def fit_densities(settings: DensitySettings, runs: Path, device: str) -> list[DensityFit]:
    """Train every preset on every toy set with the one trainer, then measure it."""
    fits = []
    for name in settings.datasets:
        for preset in settings.presets:
            say("coupling", f"training {preset} on toy2d:{name} ({settings.steps} steps)")
            overrides = {
                "data.name": f"toy2d:{name}",
                "model.preset": preset,
                "model.hidden": settings.hidden,
                "model.steps": settings.flow_steps,
                "model.dropout": 0.0,
                "train.steps": settings.steps,
                "train.batch_size": settings.batch_size,
            }
            run = train_quietly("flow", overrides, runs / f"{preset}-{name}", device)
            loaded = load_run(run, device=device)
            bpd = evaluate_run(loaded, ["bpd"])["bpd"]  # differential bits/dim on test
            data = load_data(make_config("flow", overrides=overrides).data)
            density, mass = density_on_grid(loaded.model, settings.grid, settings.bound)
            fits.append(
                DensityFit(
                    dataset=name,
                    preset=preset,
                    run=run,
                    test_nats_per_dim=bpd * math.log(2.0),
                    gaussian_nats_per_dim=gaussian_nats_per_dim(data.train.x, data.test.x),
                    grid_mass=mass,
                    density=density,
                )
            )
    return fits


def density_figure(fits: list[DensityFit], settings: DensitySettings, out: Path) -> Figure:
    """Per data set (columns): a 2-D histogram of the true test points (top) and the
    learned density exp(-nll) of each preset (rows below), on the same box."""
    plt = pyplot()
    names, presets = settings.datasets, settings.presets
    rows = 1 + len(presets)
    fig, axes = plt.subplots(
        rows, len(names), figsize=(2.2 * len(names), 2.2 * rows), squeeze=False
    )
    b = settings.bound
    extent = (-b, b, -b, b)
    for j, name in enumerate(names):
        test = load_data(make_config("flow", overrides={"data.name": f"toy2d:{name}"}).data).test.x
        axes[0][j].hist2d(
            test[:, 0].numpy(), test[:, 1].numpy(), bins=settings.grid, range=[[-b, b], [-b, b]]
        )
        axes[0][j].set_title(name, fontsize=10)
        for i, preset in enumerate(presets, start=1):
            fit = next(f for f in fits if f.dataset == name and f.preset == preset)
            axes[i][j].imshow(fit.density, origin="lower", extent=extent, aspect="equal")
            axes[i][j].set_xlabel(f"{fit.test_nats_per_dim:.3f} nats/dim", fontsize=8)
    for i, label in enumerate(["data (test)", *[f"{p} exp(-nll)" for p in presets]]):
        axes[i][0].set_ylabel(label, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    caption = (
        "Top row: 2-D histogram of the true test points of each toy set. Rows below: the "
        "density exp(-nll) learned by each flow preset on the same box "
        f"[-{b:g}, {b:g}]^2, with its test NLL in nats/dim underneath."
    )
    return save_figure(fig, out, "densities.png", caption)
