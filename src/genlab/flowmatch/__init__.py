"""The ``flowmatch`` family: flow matching / rectified flow on the diffusion family's U-Net,
sampled by the ODE solvers of ``genlab.ode`` (and DDIM / DPM-Solver++ in x_0 form), scored
through the probability-flow ODE in bits/dim."""

from __future__ import annotations

from genlab.data.dataset import DataMeta
from genlab.family import Family, Overrides
from genlab.flowmatch.config import FlowMatchConfig
from genlab.flowmatch.model import FlowMatchModel, build_flowmatch
from genlab.flowmatch.sampling import FlowMatchSampling

__all__ = ["FAMILY", "FlowMatchConfig", "FlowMatchModel", "FlowMatchSampling", "build_flowmatch"]


def data_defaults(meta: DataMeta, n_train: int) -> Overrides:
    """Images of more than 256 values: the diffusion family's U-Net and batch for them
    (``genlab.diffusion.data_defaults``), so the two families compare on one network, and
    the ODE likelihood's fixed grid chosen for them.
    Vector data: the exact divergence, no clipping (the data are not in [-1, 1]), a short
    EMA and uniform times (the reasons beside them)."""
    if meta.is_image and meta.dims > 256:
        # the ODE likelihood on a fixed grid chosen on Fashion-MNIST train images: the fewest
        # NFE whose bias against dopri5 at 1e-5 is within 0.01 bits/dim (2 SE included;
        # benchmarks/flowmatch_fashion.py, "grid" in results/flowmatch_fashion.json):
        # RK4, 6 steps denser near the data, 24 NFE, about half dopri5 at 3e-3's cost
        return {
            "model.channels": 16,
            "model.multipliers": (1, 2, 2),
            "train.batch_size": 64,
            "model.nll_solver": "rk4",
            "model.nll_steps": 6,
            "model.nll_spacing": 2.0,
        }
    if not meta.is_image:  # a few dimensions: the exact divergence is cheap and noise-free
        return {
            "model.nll_divergence": "exact",
            "model.clip": False,
            "train.batch_size": 256,
            # toy runs last a few thousand steps: an EMA horizon of 100 steps, not the
            # images' 1000 (which would average in the first, untrained weights)
            "train.ema": 0.99,
            # uniform times, as Lipman et al. (2023) train on 2-D data: a sharp density
            # needs the times near t = 0 that the logit-normal rarely draws
            "model.time_sampling": "uniform",
        }
    return {}


FAMILY = Family(
    name="flowmatch",
    config=FlowMatchConfig,
    build=build_flowmatch,
    # the diffusion family's training settings: same network, same trainer
    defaults={
        "train.steps": 4000,
        "train.batch_size": 128,
        "train.lr": 2e-3,
        "train.warmup": 200,
        "train.weight_decay": 0.0,
        "train.grad_clip": 1.0,
        "train.ema": 0.999,
        "train.val_fraction": 0.0,
        "train.select": "last",
        "train.sample_every": 1000,
        "train.eval_every": 500,
    },
    data_defaults=data_defaults,
    description="flow matching / rectified flow (U-Net; Euler, Heun, RK4, dopri5, DPM-Solver++; "
    "ODE likelihood)",
    sampling=FlowMatchSampling,
)
