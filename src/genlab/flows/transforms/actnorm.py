"""Activation normalisation (Glow, Kingma & Dhariwal 2018, sec. 3.1)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from genlab.flows.transforms.base import Transform

__all__ = ["ActNorm"]


class ActNorm(Transform):
    """Per-channel affine map ``y = x * exp(log_scale) + bias`` for images (N, C, H, W)
    or per-feature for vectors (N, D), with ``logdet = H * W * sum(log_scale)``
    (Glow, table 1; H * W = 1 for vectors).

    Data-dependent initialisation: the first forward call in training mode sets
    ``log_scale = -log(std)`` and ``bias = -mean / std`` from that batch (statistics per
    channel over batch and space), so its output has zero mean and unit variance per
    channel. The buffer ``initialized`` records it, so a saved and reloaded model is not
    re-initialised. Before initialisation the layer is the identity.
    """

    initialized: torch.Tensor

    def __init__(self, num_features: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.log_scale = nn.Parameter(torch.zeros(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("initialized", torch.tensor(False))
        # True once ``initialized`` is known to be set: forward then never reads the
        # buffer back (a host sync, and a graph break under torch.compile)
        self._ready = False

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._ready = False  # the loaded buffer decides again
        super()._load_from_state_dict(*args, **kwargs)

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        assert x.dim() >= 2 and x.shape[1] == self.num_features, (
            f"ActNorm({self.num_features}) got input of shape {tuple(x.shape)}"
        )
        return (1, self.num_features) + (1,) * (x.dim() - 2)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set scale and bias so that ``forward(x)`` has zero mean and unit variance.

        A feature that is (nearly) constant on the batch keeps scale 1: dividing by its
        tiny spread would multiply every later deviation by up to 1/eps (e.g. constant
        border pixels of digits without dequantization noise)."""
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dim=dims)
        std = x.std(dim=dims, correction=0)
        self.log_scale.copy_(torch.where(std < 1e-3, 0.0, -torch.log(std + self.eps)))
        self.bias.copy_(-mean * torch.exp(self.log_scale))
        self.initialized.fill_(True)
        self._ready = True

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        spatial = math.prod(x.shape[2:])  # H * W for images, 1 for vectors
        return (spatial * self.log_scale.sum()).expand(x.shape[0])

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shape = self._shape(x)
        if self.training and not self._ready:
            if not bool(self.initialized):
                self.initialize(x)
            self._ready = True
        y = torch.addcmul(self.bias.view(shape), x, torch.exp(self.log_scale).view(shape))
        return y, self._logdet(x)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shape = self._shape(y)
        x = (y - self.bias.view(shape)) * torch.exp(-self.log_scale).view(shape)
        return x, -self._logdet(y)
