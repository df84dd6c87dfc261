"""Multi-layer perceptron: the conditioner and small head used across families."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.dropout import Dropout

__all__ = ["MLP"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}
# in place on the fresh output of a linear layer, whose backward does not need it
_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_,
    "gelu": F.gelu,
}


class MLP(nn.Module):
    """(N, in_features) -> (N, out_features) through ``depth`` hidden layers of width
    ``hidden``: ``Linear -> act -> Dropout`` repeated, then a last ``Linear``.

    ``zero_init_last`` sets the last layer's weight and bias to zero so the network
    starts as the constant 0: a coupling layer built on it starts as the identity
    (Dinh et al. 2017; Kingma & Dhariwal 2018, sec. 3.3). ``depth=0`` is one linear map.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 256,
        depth: int = 2,
        dropout: float = 0.0,
        zero_init_last: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        assert depth >= 0, depth
        assert activation in _ACTIVATIONS, f"activation {activation!r} not in {list(_ACTIVATIONS)}"
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = hidden
        self.last = nn.Linear(width, out_features)
        if zero_init_last:
            nn.init.zeros_(self.last.weight)
            nn.init.zeros_(self.last.bias)
        self.body = nn.Sequential(*layers)
        self._act = _INPLACE[activation]
        self._dropout = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_features) -> (N, out_features).

        The layers of ``body`` are applied as functions, not module calls: on the small
        matrices of flow conditioners the per-call overhead of 3-4 modules per layer was
        a tenth of the time."""
        for layer in self.body:
            if isinstance(layer, nn.Linear):
                x = self._act(F.linear(x, layer.weight, layer.bias))
            elif isinstance(layer, Dropout) and self.training:
                x = layer(x)
        return F.linear(x, self.last.weight, self.last.bias)
