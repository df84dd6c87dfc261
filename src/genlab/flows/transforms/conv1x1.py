"""Invertible 1x1 convolution, LU-parameterised (Glow, Kingma & Dhariwal 2018, sec. 3.2)."""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab.flows.transforms.base import Transform

__all__ = ["InvertibleConv1x1"]


class InvertibleConv1x1(Transform):
    """A learned channel mixing ``y[:, :, h, w] = W x[:, :, h, w]`` with

        W = P L (U + diag(sign(s) * exp(log|s|)))

    P a fixed permutation, L unit lower triangular, U strictly upper triangular
    (Glow, eq. 10), so ``log|det W| = sum(log|s|)`` and the logdet of the layer on
    (N, C, H, W) is ``H * W * sum(log|s|)``. Vectors (N, C) are mixed the same way
    (H * W = 1). W is initialised as a random rotation: the Q of the QR decomposition of
    a Gaussian matrix drawn with ``generator``.
    """

    perm: torch.Tensor
    sign_s: torch.Tensor
    lower_mask: torch.Tensor
    eye: torch.Tensor

    def __init__(self, channels: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.channels = channels
        gaussian = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
        q = torch.linalg.qr(gaussian)[0]
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        dtype = torch.get_default_dtype()
        self.register_buffer("perm", p.to(dtype))
        self.register_buffer("sign_s", torch.sign(s).to(dtype))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(torch.tril(lower, -1).to(dtype))
        self.upper = nn.Parameter(torch.triu(upper, 1).to(dtype))
        self.log_s = nn.Parameter(torch.log(s.abs()).to(dtype))

    def weight(self) -> torch.Tensor:
        """(C, C) the matrix ``W = P L (U + diag(sign(s) exp(log|s|)))``."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def _mix(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == self.channels, (
            f"InvertibleConv1x1({self.channels}) got input of shape {tuple(x.shape)}"
        )
        if x.dim() == 2:
            return x @ w.T
        # one matrix product over every pixel: on CPU 2-5x faster than F.conv2d, whose
        # kernels are made for spatial filters, on these few channels and pixels
        return torch.einsum("oc,nchw->nohw", w, x)

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        spatial = math.prod(x.shape[2:])
        return (spatial * self.log_s.sum()).expand(x.shape[0])

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._mix(x, self.weight()), self._logdet(x)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._mix(y, torch.linalg.inv(self.weight())), -self._logdet(y)
