"""The ``flow`` family: normalizing flows with exact (dequantized) likelihoods."""

from __future__ import annotations

from genlab.data.dataset import DataMeta
from genlab.family import Family, Overrides, by_size
from genlab.flows.architectures import FLAT_MAX
from genlab.flows.model import FlowConfig, FlowModel, FlowSampling

__all__ = ["FAMILY", "LARGE_IMAGES", "FlowConfig", "FlowModel", "FlowSampling"]

# images of more than FLAT_MAX values (28x28, 3x32x32): chosen on Fashion-MNIST by
# validation bits/dim at equal CPU time (benchmarks/flow_defaults_fashion.py, all ten
# candidates in results/flow_defaults_fashion.json: glow without GroupNorm 0.042 lower,
# inside two SE, so this one stays); the run
# takes ~30 minutes of one CPU thread at 28x28 (~130 images/s); 10 minutes (1250 steps)
# reach 3.25 test bits/dim (benchmarks/fashion_quality.py)
LARGE_IMAGES: Overrides = {
    "model.preset": "glow",
    "model.channels": 32,
    "model.blocks": 1,
    "model.steps": 8,
    "train.batch_size": 64,
    "train.lr": 8e-3,
    "train.steps": 3800,
}


def data_defaults(meta: DataMeta, n_train: int) -> Overrides:
    """Regularisation by the data's size: dropout and weight decay keep a flow on 1437
    digits near its validation optimum; on 60,000 images they only slow it down. Images
    of more than 256 values also get :data:`LARGE_IMAGES` (digits' 8x8 and vectors keep
    the family defaults)."""
    found = by_size(
        n_train,
        {"model.dropout": 0.4, "train.weight_decay": 0.1},
        {"model.dropout": 0.0, "train.weight_decay": 0.0},
    )
    if meta.is_image and meta.dims > FLAT_MAX:
        return {**found, **LARGE_IMAGES}
    return found


FAMILY = Family(
    name="flow",
    config=FlowConfig,
    build=FlowModel,
    defaults={
        "train.steps": 3000,
        "train.batch_size": 128,
        "train.lr": 1e-3,
        "train.warmup": 100,
        "train.grad_clip": 10.0,
        "train.ema": 0.995,
        "train.val_fraction": 0.1,
        "train.eval_every": 250,
        "train.select": "best",
    },
    data_defaults=data_defaults,
    # validation every 100 steps: on 1437 images the best validation value can come early
    # (glow's best_step in benchmarks/results/flow_quality_digits.json)
    presets={"digits": {"train.eval_every": 100}},
    description="normalizing flows (realnvp, glow, nsf), none|uniform|variational dequantization",
    sampling=FlowSampling,
)
