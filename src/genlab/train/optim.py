"""AdamW with a linear warm-up then cosine learning-rate schedule (a pure function of step)."""

from __future__ import annotations

import math

import torch

from genlab.config import TrainConfig

__all__ = ["lr_at", "make_optimizer", "set_lr"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimisation step ``step`` (0-based).

    Linear warm-up from lr/warmup to lr over ``warmup`` steps, then a half cosine
    from lr down to ``lr * min_lr_ratio`` at the last step (Loshchilov & Hutter, 2017).
    """
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay only on tensors with >= 2 dims (not biases, norms, scalars)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # fused: one kernel per tensor for the whole update; on CPU 3x faster than foreach
    # (which loops per tensor there), a tenth of a small flow's training step
    params = decay + no_decay
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(
        groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused, foreach=not fused
    )


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
