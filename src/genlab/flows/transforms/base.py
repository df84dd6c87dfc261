"""The transform contract of every flow: both directions return ``(output, logdet)``.

A normalizing flow is a bijection f: x -> z with density (change of variables)
``log p(x) = log p_Z(f(x)) + log |det df/dx|`` (Dinh et al. 2017, eq. 3); a composition
``f = f_K o ... o f_1`` adds the log-determinants of its parts. As in nflows, every
transform returns its per-example log-determinant next to its output, in both
directions, so the inverse's logdet is minus the forward's at the matching point.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.nn.distributions import sum_per_example

__all__ = ["Compose", "Inverse", "Transform", "sum_per_example"]


class Transform(nn.Module):
    """An invertible map with its exact log-determinant.

    ``forward(x, context) -> (y, logdet)`` with ``logdet = log|det dy/dx|`` of shape (N,);
    ``inverse(y, context) -> (x, logdet)`` with ``logdet = log|det dx/dy|`` (= minus the
    forward logdet at the matching point). ``context`` is an optional conditioning tensor
    handed to every transform; only those that use it (couplings) look at it.
    """

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def _total(logdets: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Sum of per-example logdets, (N,): one stack and one sum instead of K additions."""
    if not logdets:
        return x.new_zeros(x.shape[0])
    n = x.shape[0]
    return torch.stack([ld.expand(n) for ld in logdets]).sum(0)


class Compose(Transform):
    """``f_K o ... o f_1``: forward runs the transforms in order and sums their logdets;
    inverse runs them in reverse order."""

    def __init__(self, *transforms: Transform) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logdets = []
        for t in self.transforms:
            x, ld = t(x, context)
            logdets.append(ld)
        return x, _total(logdets, x)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logdets = []
        for t in reversed(self.transforms):
            y, ld = t.inverse(y, context)
            logdets.append(ld)
        return y, _total(logdets, y)


class Inverse(Transform):
    """A transform run backwards: ``Inverse(t).forward = t.inverse`` and vice versa."""

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.transform = transform

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform.inverse(x, context)

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform.forward(y, context)
