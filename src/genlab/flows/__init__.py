"""The ``flow`` family: normalizing flows with exact (dequantized) likelihoods."""

from __future__ import annotations

from genlab.family import Family
from genlab.flows.model import FlowConfig, FlowModel

__all__ = ["FAMILY", "FlowConfig", "FlowModel"]

FAMILY = Family(
    name="flow",
    config=FlowConfig,
    build=FlowModel,
    defaults={
        "train.steps": 3000,
        "train.batch_size": 128,
        "train.lr": 1e-3,
        "train.warmup": 100,
        "train.weight_decay": 0.1,  # AdamW, decoupled: with dropout, what keeps test near val
        "train.grad_clip": 10.0,
        "train.ema": 0.995,
        "train.val_fraction": 0.1,
        "train.eval_every": 100,
        "train.select": "best",
    },
    description="normalizing flows (realnvp, glow, nsf), none|uniform|variational dequantization",
)
