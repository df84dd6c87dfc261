"""Sharpness: high-frequency energy of images, to tell blur from lack of diversity.

A blurry model (e.g. a VAE with a Gaussian decoder mean) can score a fair
Fréchet distance while its samples lack edges. The response of the discrete
Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` measures local curvature; its
mean square per image is the high-frequency energy. The ratio samples / data is
< 1 for blurred samples, 1 for data-like sharpness and > 1 for noisy ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["high_frequency_energy", "laplacian", "sharpness_ratio"]


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """Discrete 5-point Laplacian of (N, C, H, W) float images, per channel, replicate padding."""
    channels = images.shape[1]
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = kernel.to(images).expand(channels, 1, 3, 3)
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kernel, groups=channels)


def high_frequency_energy(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(N,) mean squared Laplacian response of images (N, C, H, W) scaled to [0, 1].

    ``x`` holds integer levels ``0 .. levels-1`` (any dtype); it is divided by
    ``levels - 1`` first, so the energy is in (unit intensity)^2.
    """
    assert x.dim() == 4, f"expected images (N, C, H, W), got {tuple(x.shape)}"
    unit = x.double() / (levels - 1)
    return laplacian(unit).square().mean(dim=(1, 2, 3))


def sharpness_ratio(samples: torch.Tensor, real: torch.Tensor, levels: int) -> float:
    """Mean high-frequency energy of ``samples`` over that of ``real`` (both (N, C, H, W))."""
    real_energy = float(high_frequency_energy(real, levels).mean())
    assert real_energy > 0, "reference images have no high-frequency energy (all flat)"
    return float(high_frequency_energy(samples, levels).mean()) / real_energy
