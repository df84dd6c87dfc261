"""Mask-based coupling layers: affine (RealNVP) and additive (NICE).

With a binary mask ``b`` (1 = kept), a coupling layer maps

    y = b * x + (1 - b) * g(x; theta(b * x, context))

where ``g`` is invertible elementwise and ``theta`` is an injected conditioner network
that only sees the kept part, so the Jacobian is triangular and its log-determinant is
the sum of ``log g'`` over the transformed part (Dinh et al. 2015, NICE, eq. 4;
Dinh et al. 2017, RealNVP, eqs. 6-9). Shapes: x (N, D) with mask (D,), or x (N, C, H, W)
with mask (C, H, W). The conditioner maps (N, D + Dc) -> (N, P * D) for vectors or
(N, C + Cc, H, W) -> (N, P * C, H, W) for images, P parameters per element.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.flows.transforms.base import Transform, sum_per_example

__all__ = ["AdditiveCoupling", "AffineCoupling", "MaskedCoupling", "conditioner_input"]


def conditioner_input(masked: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
    """``masked`` (N, F, ...) with ``context`` concatenated along dim 1.

    An image ``masked`` (N, C, H, W) takes image context (N, Cc, H, W) as is, and vector
    context (N, Dc) broadcast over space to (N, Dc, H, W)."""
    if context is None:
        return masked
    if context.dim() == 2 and masked.dim() > 2:
        context = context.reshape(*context.shape, *([1] * (masked.dim() - 2)))
        context = context.expand(-1, -1, *masked.shape[2:])
    return torch.cat([masked, context.to(masked.dtype)], dim=1)


class MaskedCoupling(Transform):
    """Shared mechanics: the conditioner sees ``x * mask`` (and the context); subclasses
    define the elementwise map in :meth:`couple` from the raw conditioner output."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor, conditioner: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().clone().float())
        self.conditioner = conditioner

    def params(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Raw conditioner output for input ``x`` (only its kept part is read)."""
        return self.conditioner(conditioner_input(x * self.mask, context))

    def couple(
        self, x: torch.Tensor, params: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.couple(x, self.params(x, context), inverse=False)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # the kept part of y equals that of x, so the conditioner sees the same input
        return self.couple(y, self.params(y, context), inverse=True)


class AffineCoupling(MaskedCoupling):
    """RealNVP affine coupling: ``y = x * exp(s) + t`` on the transformed part,
    ``logdet = sum((1 - b) * s)`` (Dinh et al. 2017, eqs. 7-9).

    The conditioner outputs 2 parameters per element, split along dim 1 as
    ``(raw_s, t)``; the log-scale is bounded, ``s = B tanh(raw_s / B)`` with
    ``B = scale_bound``, so that no step can scale by more than ``exp(B)`` and training
    stays stable (slope 1 at 0, so a zero conditioner is the identity).
    """

    def __init__(
        self, mask: torch.Tensor, conditioner: nn.Module, *, scale_bound: float = 2.0
    ) -> None:
        super().__init__(mask, conditioner)
        assert scale_bound > 0, scale_bound
        self.scale_bound = float(scale_bound)

    def couple(
        self, x: torch.Tensor, params: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = params.chunk(2, dim=1)
        free = 1.0 - self.mask
        s = self.scale_bound * torch.tanh(raw_s / self.scale_bound) * free
        t = t * free
        if inverse:
            return (x - t) * torch.exp(-s), -sum_per_example(s)
        return x * torch.exp(s) + t, sum_per_example(s)


class AdditiveCoupling(MaskedCoupling):
    """NICE additive coupling: ``y = x + t`` on the transformed part, volume preserving
    (``logdet = 0``; Dinh et al. 2015, eq. 5). The conditioner outputs 1 parameter per
    element."""

    def couple(
        self, x: torch.Tensor, params: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = params * (1.0 - self.mask)
        logdet = x.new_zeros(x.shape[0])
        return (x - t if inverse else x + t), logdet
