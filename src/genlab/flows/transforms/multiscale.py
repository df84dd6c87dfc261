"""Multi-scale factor-out (RealNVP sec. 3.6; Glow fig. 2b), kept shape-preserving."""

from __future__ import annotations

import torch

from genlab.flows.transforms.base import Transform

__all__ = ["Split"]


class Split(Transform):
    """Half of the channels leave the flow early, the rest go on.

    On x (N, C, ...), the first ``keep`` channels go through ``inner`` (a transform that
    returns the shape it is given, e.g. ``Compose(Squeeze(), steps..., Unsqueeze())``);
    the remaining ``C - keep`` channels pass unchanged: they are "factored out" and meet
    the standard normal base distribution directly. Output is the concatenation along
    channels, in the same order; ``logdet`` is the inner transform's. Putting the
    factored-out part in the output instead of a side list keeps every transform a map
    from a tensor to a tensor of the same size.
    """

    def __init__(self, inner: Transform, keep: int) -> None:
        super().__init__()
        assert keep >= 1, keep
        self.inner, self.keep = inner, keep

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.shape[1] > self.keep, f"Split(keep={self.keep}) got {tuple(x.shape)}"
        return x[:, : self.keep], x[:, self.keep :]

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        active, out = self._parts(x)
        active, logdet = self.inner(active, context)
        return torch.cat([active, out], dim=1), logdet

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        active, out = self._parts(y)
        active, logdet = self.inner.inverse(active, context)
        return torch.cat([active, out], dim=1), logdet
