"""Independent categorical distributions, one per dimension: the bits/dim baseline.

p(x) = prod_d Cat(x_d | softmax(theta_d)), with theta (D, L) learned by gradient
descent. The loss adds a symmetric Dirichlet(1 + alpha) prior on each p_d, divided by
the training-set size N so that one epoch's average of the minibatch loss is

    -1/N [ sum_n log p(x_n) + alpha * sum_{d,k} log p_dk ],

whose minimiser is the add-alpha smoothed histogram p_dk = (c_dk + alpha) / (N + alpha L)
(alpha = 1 is add-one / Laplace smoothing). Any generative model that cannot beat
this number has learnt nothing about how pixels depend on each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlab.config import check_fields, ranged
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_index
from genlab.errors import ConfigError

__all__ = ["Pixelwise", "PixelwiseConfig"]


@dataclass(frozen=True)
class PixelwiseConfig:
    """``prior``: Dirichlet pseudo-count alpha added to every level (1 = add-one)."""

    prior: float = ranged(1.0, lambda v: v >= 0, "at least 0 (0: maximum likelihood)")

    def __post_init__(self) -> None:
        check_fields(self, "model.")


class Pixelwise(nn.Module):
    """Per-dimension categorical model over ``levels`` values."""

    def __init__(self, config: PixelwiseConfig, meta: DataMeta) -> None:
        super().__init__()
        if meta.levels is None:
            raise ConfigError(
                f"pixelwise models discrete data, but {meta.name} is continuous (levels=None)"
            )
        self.config, self.meta = config, meta
        self.logits = nn.Parameter(torch.zeros(meta.dims, meta.levels))  # (D, L)
        # training-set size N for the prior's weight; set by prepare(), saved with the model
        self.register_buffer("n_train", torch.tensor(1.0))

    def prepare(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Record the training-set size so the prior weighs alpha / N per example."""
        self.n_train.fill_(float(len(x)))

    def log_probs(self) -> torch.Tensor:
        """log p_dk, (D, L)."""
        return torch.log_softmax(self.logits, dim=-1)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact -log p(x) in nats per example, (N,)."""
        k = to_index(x, self.meta.levels).reshape(len(x), -1)  # (N, D)
        logp = self.log_probs()  # (D, L)
        return -logp.gather(1, k.T).sum(0)  # gather (D, N) -> (N,)

    def nll_estimator(self) -> dict[str, object]:
        """``nll`` is the exact discrete log-probability: no estimator noise."""
        return {"estimator": "exact"}

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        nll = self.nll(x).mean()
        prior = -self.config.prior * self.log_probs().sum() / self.n_train
        bpd = nll.detach() / (self.meta.dims * math.log(2.0))
        return nll + prior, {"nll": nll.detach(), "prior": prior.detach(), "bpd": bpd}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` independent draws, int64 (n, *shape) in 0..levels-1."""
        probs = self.log_probs().exp()  # (D, L)
        if generator is not None and generator.device != probs.device:
            probs = probs.to(generator.device)
        k = torch.multinomial(probs, n, replacement=True, generator=generator)  # (D, n)
        return k.T.reshape(n, *self.meta.shape).to(self.logits.device)
