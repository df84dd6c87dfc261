"""AdamW with a linear warm-up then cosine learning-rate schedule (a pure function of step)."""

from __future__ import annotations

import math

import torch

from genlab.config import TrainConfig

__all__ = ["lr_at", "make_optimizer", "set_lr", "warmup_steps"]


def warmup_steps(cfg: TrainConfig) -> int:
    """``train.warmup``, but at most a tenth of ``train.steps``: a warm-up sized for a long
    run never covers the whole of a short one."""
    return min(cfg.warmup, cfg.steps // 10)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimisation step ``step`` (0-based).

    Linear warm-up from lr/warmup to lr over :func:`warmup_steps` steps, then a half
    cosine from lr down to ``lr * min_lr_ratio`` at the last step (Loshchilov & Hutter,
    2017).
    """
    warmup = warmup_steps(cfg)
    if warmup > 0 and step < warmup:
        return cfg.lr * (step + 1) / warmup
    span = max(1, cfg.steps - warmup)
    progress = min(1.0, (step - warmup) / span)
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
