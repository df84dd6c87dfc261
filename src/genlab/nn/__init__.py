"""Shared network blocks, used by every family and tested once."""

from __future__ import annotations

from genlab.nn.conv import ConvResNet, ResidualBlock
from genlab.nn.mlp import MLP

__all__ = ["MLP", "ConvResNet", "ResidualBlock"]
