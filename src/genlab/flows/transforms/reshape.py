"""Squeeze (space-to-depth) and its inverse (RealNVP sec. 3.6; Glow fig. 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.flows.transforms.base import Transform

__all__ = ["Flatten", "Squeeze", "Unsqueeze"]


def _check(x: torch.Tensor, factor: int) -> None:
    assert x.dim() == 4 and x.shape[2] % factor == 0 and x.shape[3] % factor == 0, (
        f"squeeze by {factor} needs (N, C, H, W) with H, W divisible by {factor}, "
        f"got {tuple(x.shape)}"
    )


class Squeeze(Transform):
    """(N, C, H, W) -> (N, C f^2, H / f, W / f): each f x f spatial patch becomes f^2
    channels (output channel ``c f^2 + i f + j`` holds ``x[c, f h + i, f w + j]``).
    A permutation of the elements, so ``logdet = 0``."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check(x, self.factor)
        return F.pixel_unshuffle(x, self.factor), x.new_zeros(x.shape[0])

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return F.pixel_shuffle(y, self.factor), y.new_zeros(y.shape[0])


class Unsqueeze(Transform):
    """(N, C f^2, H, W) -> (N, C, H f, W f): the inverse of :class:`Squeeze`."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return F.pixel_shuffle(x, self.factor), x.new_zeros(x.shape[0])

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check(y, self.factor)
        return F.pixel_unshuffle(y, self.factor), y.new_zeros(y.shape[0])


class Flatten(Transform):
    """(N, *shape) -> (N, prod(shape)) and back; a relabelling, so ``logdet = 0``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0])

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return y.reshape(y.shape[0], *self.shape), y.new_zeros(y.shape[0])
