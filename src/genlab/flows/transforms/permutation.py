"""Fixed permutations of features (vectors) or channels (images)."""

from __future__ import annotations

import torch

from genlab.flows.transforms.base import Transform

__all__ = ["Permutation"]


class Permutation(Transform):
    """``y = x[:, perm]`` along dim 1 (features of (N, D), channels of (N, C, H, W));
    volume preserving, ``logdet = 0``. Used between couplings so every element is
    eventually transformed (RealNVP, sec. 3.5; Glow's "reverse" and "shuffle")."""

    perm: torch.Tensor
    inverse_perm: torch.Tensor

    def __init__(self, perm: torch.Tensor) -> None:
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        d = perm.numel()
        assert torch.equal(perm.sort().values, torch.arange(d)), f"not a permutation: {perm}"
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    @classmethod
    def reverse(cls, d: int) -> Permutation:
        """The order reversal ``d-1, ..., 0``."""
        return cls(torch.arange(d - 1, -1, -1))

    @classmethod
    def random(cls, d: int, generator: torch.Generator | None = None) -> Permutation:
        """A uniformly random permutation drawn with ``generator``."""
        return cls(torch.randperm(d, generator=generator))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x.index_select(1, self.perm), x.new_zeros(x.shape[0])

    def inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return y.index_select(1, self.inverse_perm), y.new_zeros(y.shape[0])
