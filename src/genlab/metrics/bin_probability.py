"""The probability a dequantized model gives discrete data: its density integrated over
each data point's bin, estimated by importance sampling over the bin.

For data ``k in {0..L-1}^D`` and a density ``p`` on ``[0, 1)^D``, the discrete
probability is the mass of ``k``'s bin, ``P(k) = int p((k + u) / L) L^{-D} du`` over
``u in [0, 1)^D``. A model whose ``nll(k)`` is one draw of ``-log w`` with

    w = p((k + u) / L) L^{-D} / q(u | k),   u ~ q(u | k)

(a flow with uniform dequantization, q = 1, or variational dequantization, q learned)
gives ``E_q[w] = P(k)``: each ``w`` is an unbiased estimate of the bin's mass. From
``K`` draws per example this module returns, in bits/dim,

- ``bound``: ``mean_j(-log w_j)``, the dequantization bound ``E_q[-log w] >= -log P(k)``
  (Theis et al. 2016, Sec. 3.1; Ho et al. 2019, Flow++, eq. 12), its expectation
  estimated with ``K`` draws instead of one;
- ``discrete``: ``-log mean_j(w_j)``, the importance-weighted bound: in expectation it
  lies between ``-log P(k)`` and ``bound`` and decreases to ``-log P(k)`` as ``K``
  grows (Burda et al. 2016, IWAE, Theorem 1). Its remaining looseness at ``K`` draws is
  not measured; ``bound - discrete`` shows how far the draws moved it.

Neither can go below 0 bits/dim on average (a probability is at most 1), unlike a
density evaluated at one point of each bin.

A density peaked at the bin centres (a flow trained without dequantization) puts almost
no mass where uniform draws land, and the uniform estimate is then astronomically loose.
:class:`BoxDequantization` draws ``u`` uniformly on a box of side ``width`` (in bins)
centred in each bin, ``log q(u | k) = -D log width``: its weights estimate the mass of
that box, a part of the bin's, so ``-log mean_j(w_j)`` stays an upper bound on
``-log P(k)`` in expectation, and one matched to the peak's width is a much tighter one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from genlab.data.dataset import DataMeta
from genlab.metrics.likelihood import SupportsNLL, model_device

__all__ = ["BinScores", "BoxDequantization", "bin_scores", "bin_scores_from_nlls", "draw_nlls"]


@dataclass(frozen=True)
class BinScores:
    """Per-example bits/dim of N examples from ``draws`` noise draws each.

    ``bound``: (N,) the dequantization bound (mean of the draws' ``-log w``);
    ``discrete``: (N,) the importance-weighted estimate of ``-log P(k)`` (see module
    docstring). Both float64, bits per dimension.
    """

    bound: torch.Tensor
    discrete: torch.Tensor
    draws: int


class BoxDequantization(nn.Module):
    """Noise on a centred box of each bin: ``u = 1/2 + width (t - 1/2)``, t ~ U[0, 1)^D,
    ``y = (k + u) / L`` (float32, computed in float64), ``log q(u | k) = -D log width``
    (N,). ``width = 1`` is uniform dequantization. The contract of a flow's dequantizer:
    ``forward(k) -> (y, log_q)``."""

    def __init__(self, levels: int, width: float) -> None:
        super().__init__()
        assert 0 < width <= 1, width
        self.levels, self.width = levels, width

    def forward(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.rand(k.shape, device=k.device, dtype=torch.float64)
        y = (k.double() + 0.5 + self.width * (t - 0.5)) / self.levels
        log_q = -k[0].numel() * math.log(self.width)
        return y.float(), torch.full((k.shape[0],), log_q, device=k.device)


def draw_nlls(
    model: SupportsNLL,
    x: torch.Tensor,
    *,
    draws: int,
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """``model.nll`` of every example of ``x`` (N, ...) ``draws`` times: (N, draws) nats,
    float64, under ``torch.inference_mode`` with the global RNG seeded to ``seed`` inside
    a forked RNG state (so two models with the same noise draws, e.g. two uniformly
    dequantized flows, see the same ``u``: their paired differences carry less noise).

    ``batch_size`` defaults to about 32k values a batch; ``device`` to the model's."""
    assert draws >= 1, draws
    dev = torch.device(device) if device is not None else model_device(model)
    dims = max(1, x[0].numel()) if len(x) else 1
    size = batch_size or max(1, min(500, 32_768 // dims))
    forked = [dev.index or 0] if dev.type == "cuda" else []
    rows = []
    bar = tqdm(total=len(x) * draws, desc=f"nll x {draws} draws", unit="img", disable=not progress)
    with bar, torch.random.fork_rng(devices=forked), torch.inference_mode():
        torch.manual_seed(seed)
        for start in range(0, len(x), size):
            batch = x[start : start + size].to(dev)
            cols = [model.nll(batch).detach().double().cpu() for _ in range(draws)]
            rows.append(torch.stack(cols, dim=1))
            bar.update(len(batch) * draws)
    return torch.cat(rows) if rows else torch.zeros(0, draws, dtype=torch.float64)


def bin_scores_from_nlls(nlls: torch.Tensor, meta: DataMeta) -> BinScores:
    """:class:`BinScores` from (N, K) per-draw ``-log w`` in nats (see :func:`draw_nlls`)."""
    assert nlls.dim() == 2 and nlls.shape[1] >= 1, tuple(nlls.shape)
    to_bits = meta.dims * math.log(2.0)
    k = nlls.shape[1]
    bound = nlls.mean(dim=1)
    discrete = -(torch.logsumexp(-nlls, dim=1) - math.log(k))
    return BinScores(bound / to_bits, discrete / to_bits, k)


def bin_scores(
    model: SupportsNLL,
    x: torch.Tensor,
    meta: DataMeta,
    *,
    draws: int,
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> BinScores:
    """Bits/dim of the discrete examples ``x`` (N, *meta.shape) under a dequantized
    ``model`` (its ``nll`` one draw of ``-log w``, see module docstring), from ``draws``
    noise draws per example."""
    nlls = draw_nlls(
        model, x, draws=draws, seed=seed, batch_size=batch_size, device=device, progress=progress
    )
    return bin_scores_from_nlls(nlls, meta)
