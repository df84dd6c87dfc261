"""Fixed elementwise bijections for any shape (N, ...): logit and scalar affine."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlab.flows.transforms.base import Transform, sum_per_example

__all__ = ["Logit", "ScalarAffine"]


class Logit(Transform):
    """[0, 1] -> R: ``z = logit(p)`` with ``p = alpha + (1 - 2 alpha) y``, which keeps
    the input away from 0 and 1 (RealNVP sec. 4.1, alpha = 0.05 there). Per element
    ``log dz/dy = log(1 - 2 alpha) - log p - log(1 - p)``; the inverse is
    ``y = (sigmoid(z) - alpha) / (1 - 2 alpha)``.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        super().__init__()
        assert 0.0 <= alpha < 0.5, alpha
        self.alpha = float(alpha)
        self._log_scale = math.log1p(-2.0 * alpha)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.alpha + (1.0 - 2.0 * self.alpha) * x
        log_p, log_q = torch.log(p), torch.log1p(-p)
        return log_p - log_q, self._log_scale * math.prod(x.shape[1:]) - sum_per_example(
            log_p + log_q
        )

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha)
        # log sigmoid'(z) = log sigmoid(z) + log sigmoid(-z) = -softplus(-z) - softplus(z)
        lad = -F.softplus(-y) - F.softplus(y) - self._log_scale
        return x, sum_per_example(lad)


class ScalarAffine(Transform):
    """``y = scale * x + shift`` with fixed numbers; ``logdet = numel * log|scale|`` per
    example (numel = elements per example), e.g. [0, 1] -> [-1, 1] by (2, -1)."""

    def __init__(self, scale: float, shift: float = 0.0) -> None:
        super().__init__()
        assert scale != 0.0, "scale must be non-zero to be invertible"
        self.scale, self.shift = float(scale), float(shift)
        self._log_abs = math.log(abs(scale))

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_full((x.shape[0],), math.prod(x.shape[1:]) * self._log_abs)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x * self.scale + self.shift, self._logdet(x)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return (y - self.shift) / self.scale, -self._logdet(y)
