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

from genlab.errors import GenlabError

__all__ = ["drop_labels", "guide", "labels_for"]


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


def labels_for(n: int, label: int, num_classes: int) -> torch.Tensor:
    """(n,) long labels all ``label``, or one clear error when the model has no such class
    (``num_classes`` 0: not trained with labels)."""
    if not 0 <= label < num_classes:
        raise GenlabError(
            f"label={label}: the model knows classes 0..{num_classes - 1}"
            if num_classes
            else "label needs a model trained with model.conditional=true"
        )
    return torch.full((n,), label, dtype=torch.long)
