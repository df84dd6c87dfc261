"""Classifier-free guidance (Ho & Salimans 2022).

One network learns both p(x | y) and p(x): during training each label is replaced by the
"no label" token with probability ``p_uncond``. At sampling time the two predictions are
extrapolated, ``x0 = x0(x_t, null) + w (x0(x_t, y) - x0(x_t, null))`` (their eq. 6
written for x0, which is affine in the network output for any parameterisation, so it
is the same as guiding eps or v): ``w = 1`` is the plain conditional model, ``w = 0``
the unconditional one, ``w > 1`` trades diversity for fidelity to the label.
"""

from __future__ import annotations

import torch

__all__ = ["drop_labels", "guide"]


def drop_labels(
    y: torch.Tensor, p_uncond: float, null: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(N,) labels with each one replaced by ``null`` with probability ``p_uncond``."""
    if p_uncond <= 0.0:
        return y
    drop = torch.rand(y.shape, device=y.device, generator=generator) < p_uncond
    return torch.where(drop, torch.full_like(y, null), y)


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """``uncond + scale * (cond - uncond)``, elementwise (any shape)."""
    if scale == 1.0:
        return cond
    return torch.lerp(uncond, cond, scale)
