"""Small probability helpers shared by families: per-example sums, the Gaussian KL and
a Gaussian integrated over the bins of discrete data (Ho et al. 2020, eq. 13).

Discrete data with L levels live in model space at ``-1 + 2 k / (L - 1)``; each level's
bin is ``x +- 1 / (L - 1)``, the outermost bins extended to infinity, so a distribution
integrated over the bins is a probability over the L levels.
"""

from __future__ import annotations

import math

import torch

__all__ = ["discretized_gaussian_log_likelihood", "normal_kl", "sum_per_example"]


def sum_per_example(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def normal_kl(
    mean1: torch.Tensor, var1: torch.Tensor, mean2: torch.Tensor, var2: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(mean1, var1) || N(mean2, var2)) in nats (broadcasting)."""
    return 0.5 * (torch.log(var2) - torch.log(var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1.0)


def _log_diff_ndtr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails (Phi(-x) = 1 - Phi(x))."""
    # work in the tail where the values are small: flip when both are positive
    flip = (a + b) > 0
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log1p(-torch.exp((log_lo - log_hi).clamp(max=0.0)) + 1e-30)


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, levels: int
) -> torch.Tensor:
    """Elementwise log P(x) of N(mean, std^2) integrated over x's bin, (same shape).

    ``x`` holds level values centred in [-1, 1] (``-1 + 2 k / (L - 1)``); the bin is
    ``x +- 1 / (L - 1)``, with the first bin extended to -inf and the last to +inf."""
    half = 1.0 / (levels - 1)
    a = (x - half - mean) / std
    b = (x + half - mean) / std
    a = torch.where(x < -1.0 + half, torch.full_like(a, -math.inf), a)
    b = torch.where(x > 1.0 - half, torch.full_like(b, math.inf), b)
    return _log_diff_ndtr(a, b)
