"""Shared network blocks, used by every family and tested once."""

from __future__ import annotations

from genlab.nn.attention import SelfAttention2d
from genlab.nn.conv import ConvResNet, ResidualBlock
from genlab.nn.convnet import ConvDecoder, ConvEncoder
from genlab.nn.embeddings import TimestepEmbedding, sinusoidal_embedding
from genlab.nn.mlp import MLP
from genlab.nn.unet import UNet

__all__ = [
    "MLP",
    "ConvDecoder",
    "ConvEncoder",
    "ConvResNet",
    "ResidualBlock",
    "SelfAttention2d",
    "TimestepEmbedding",
    "UNet",
    "sinusoidal_embedding",
]
