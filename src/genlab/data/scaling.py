"""The one place where integer levels and model space meet.

Discrete data hold integers ``k in {0, .., L-1}`` (``L = levels``). Models see
either the centred space ``[-1, 1]`` (``k / (L-1) * 2 - 1``) or the unit
interval with each integer owning the bin ``[k/L, (k+1)/L)`` (dequantization).
Continuous data (``levels=None``) pass through unchanged as float32.
"""

from __future__ import annotations

import torch

__all__ = ["from_centered", "from_unit", "to_centered", "to_index", "to_unit_bins"]


def to_index(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer-valued data of any dtype -> int64 level indices, checked in range (in eager
    mode: under torch.compile reading the range back would break the graph, and the data
    were checked when loaded)."""
    k = x.round().long() if x.is_floating_point() else x.long()
    if k.numel() and not torch.compiler.is_compiling():
        low, high = (int(v) for v in torch.aminmax(k))
        assert low >= 0 and high < levels, f"values outside 0..{levels - 1}: min {low}, max {high}"
    return k


def to_centered(
    x: torch.Tensor, levels: int | None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Data -> ``dtype`` in [-1, 1] (levels) or unchanged values (continuous), computed in
    ``dtype`` (no float32 rounding for float64 models)."""
    if levels is None:
        return x.to(dtype)
    return x.to(dtype) * (2.0 / (levels - 1)) - 1.0


def from_centered(y: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Inverse of :func:`to_centered`: round to the nearest level and clamp (int64)."""
    if levels is None:
        return y.float()
    return ((y + 1.0) * ((levels - 1) / 2.0)).round().clamp(0, levels - 1).long()


def to_unit_bins(x: torch.Tensor, levels: int, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Data -> (k + u) / L in [0, 1), with ``u`` in [0, 1) (``noise``; 0.5 when None).

    With ``u ~ U[0,1)`` this is uniform dequantization: a density on [0,1)^D for the
    rescaled variable relates to the discrete probability by ``log P(k) >= E[log p(y)]
    - D log L`` (the Jacobian of the 1/L scaling).
    """
    u = torch.full_like(x, 0.5, dtype=torch.float32) if noise is None else noise
    return (x.float() + u) / levels


def from_unit(y: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`to_unit_bins`: floor of y*L, clamped to the levels (int64)."""
    return (y * levels).floor().clamp(0, levels - 1).long()
