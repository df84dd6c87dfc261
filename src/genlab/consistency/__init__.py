"""The ``consistency`` family: few-step students distilled from a flow-matching or diffusion
teacher by
consistency distillation (``genlab distill RUN --method consistency``), sampled in one or
a few network passes."""

from __future__ import annotations

from genlab.consistency.config import ConsistencyConfig
from genlab.consistency.model import ConsistencyModel, build_consistency
from genlab.consistency.sampling import ConsistencySampling
from genlab.data.dataset import DataMeta
from genlab.family import Family, Overrides

__all__ = [
    "FAMILY",
    "ConsistencyConfig",
    "ConsistencyModel",
    "ConsistencySampling",
    "build_consistency",
]


def data_defaults(meta: DataMeta, n_train: int) -> Overrides:
    """Vector data: no clipping (the data are not in [-1, 1]), flowmatch's batch and short
    evaluation EMA for them."""
    if not meta.is_image:
        return {"model.clip": False, "train.batch_size": 256, "train.ema": 0.99}
    return {}  # images: the network sizes are the teacher's (genlab distill copies them)


FAMILY = Family(
    name="consistency",
    config=ConsistencyConfig,
    build=build_consistency,
    # the teacher's trainer settings; a lower rate, since training starts from the teacher
    defaults={
        "train.steps": 2000,
        "train.batch_size": 128,
        "train.lr": 2e-4,
        "train.warmup": 0,
        "train.weight_decay": 0.0,
        "train.grad_clip": 1.0,
        "train.ema": 0.999,
        "train.val_fraction": 0.0,
        "train.select": "last",
        "train.sample_every": 500,
        "train.eval_every": 500,
    },
    data_defaults=data_defaults,
    description=(
        "consistency distillation of a flowmatch or diffusion teacher (one- and few-step sampling)"
    ),
    sampling=ConsistencySampling,
    likelihood=False,
    teacher=("flowmatch", "diffusion"),
)
