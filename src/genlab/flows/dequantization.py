"""Dequantization: from integer levels to a continuous variable in [0, 1)^D.

A density p_Y on [0,1)^D gives the discrete data ``k`` the probability of its bin,
``P(k) = int p_Y((k + u) / L) L^{-D} du``; for any density q(u | k) on [0,1)^D,
Jensen's inequality gives the bound used for training and for bits/dim
(Theis et al. 2016; Ho et al. 2019, Flow++, eq. 12):

    -log P(k) <= E_q[ -log p_Y((k + u) / L) + log q(u | k) ] + D log L.

``none`` puts u = 1/2 with no noise: then the number is not a bound and a continuous
density can grow without limit on the training points. ``uniform`` uses q = U[0,1)
(log q = 0). ``variational`` learns q(u | k) as a conditional flow u = sigmoid(g(e; k)),
e ~ N(0, I), trained jointly with the model (Flow++).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.scaling import to_centered, to_unit_bins
from genlab.flows.transforms import Transform, sum_per_example

__all__ = ["NoDequantization", "UniformDequantization", "VariationalDequantization"]

LOG_2PI = math.log(2.0 * math.pi)


def standard_normal_logprob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed per example, (N,)."""
    return sum_per_example(-0.5 * (z * z + LOG_2PI))


class NoDequantization(nn.Module):
    """y = (k + 1/2) / L, log q = 0: no noise (not a bound; for the study)."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return to_unit_bins(k, self.levels), k.new_zeros(k.shape[0], dtype=torch.float32)


class UniformDequantization(nn.Module):
    """y = (k + u) / L with u ~ U[0, 1)^D, log q(u | k) = 0."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(k.shape, device=k.device)
        return to_unit_bins(k, self.levels, u), u.new_zeros(k.shape[0])


class VariationalDequantization(nn.Module):
    """u = sigmoid(v), v = g(e; k) with e ~ N(0, I) and g a conditional flow whose
    context is ``context_net(k in [-1, 1])``.

    log q(u | k) = log N(e) - log|det dv/de| - sum log sigmoid'(v).
    """

    def __init__(self, levels: int, flow: Transform, context_net: nn.Module) -> None:
        super().__init__()
        self.levels, self.flow, self.context_net = levels, flow, context_net

    def forward(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = next(self.context_net.parameters()).dtype
        context = self.context_net(to_centered(k, self.levels, dtype))
        e = torch.randn(k.shape, device=k.device, dtype=dtype)
        v, logdet = self.flow(e, context)
        u = torch.sigmoid(v)
        log_sigmoid_grad = sum_per_example(-F.softplus(-v) - F.softplus(v))
        log_q = standard_normal_logprob(e) - logdet - log_sigmoid_grad
        u = u.clamp(0.0, 1.0 - 1e-6)  # strictly inside [0, 1) even when sigmoid rounds to 1
        return to_unit_bins(k, self.levels, u), log_q
