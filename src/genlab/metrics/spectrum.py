"""Blur that per-pixel noise cannot fake: coherent edge energy and the radial power spectrum.

A blurred image lacks spatially coherent high-frequency structure (edges); an image with
noise added pixel by pixel has MORE high-frequency power, but none of it coherent. Measures
of plain high-frequency energy (the Laplacian of :mod:`genlab.metrics.sharpness`, the
power in a high radial band) count that noise as sharpness: a VAE's samples as drawn
score "sharper than the data". Two measures here tell the two apart.

**Coherent edge energy** (the check's measure). With ``u = x / (levels - 1)`` an
(H, W) image in unit intensity and forward differences ``gx[i, j] = u[i, j+1] - u[i, j]``,
``gy[i, j] = u[i+1, j] - u[i, j]``::

    E(u) = 1/2 * ( mean_ij gx[i, j] * gx[i+1, j]  +  mean_ij gy[i, j] * gy[i, j+1] )

in (unit intensity)^2: a gradient times the same gradient one pixel along the edge
(perpendicular to the difference), over the (H-1)(W-1) interior pairs, averaged over
channels. An edge keeps its gradient along its length, so a sharp edge gives a large
positive product; blurring spreads the step over k pixels and divides the summed squared
gradient by about k.

*Why per-pixel noise cannot fool it.* The two factors of each product are functions of
disjoint pixel pairs ({(i, j), (i, j+1)} and {(i+1, j), (i+1, j+1)}). Let ``u = m + e``
where, given the clean image ``m``, the noise ``e`` is independent across pixels with
``E[e | m] = 0`` (any per-pixel variance, heteroscedastic included). Then
``E[gx(u) gx'(u) | m] = gx(m) gx'(m)`` and ``E[E(u)] = E[E(m)]``: noise adds nothing in
expectation, only variance. A VAE's decoder draws every pixel independently given z, so
its samples as drawn and its decoder mean estimate the SAME edge energy (up to the mean's
rounding to the levels); the noise adds no edges. In Fourier terms (a periodic image,
power ``P(w)`` at angular frequency ``w``),
``E = mean_w P(w) * 2 [sin^2(w_x / 2) cos(w_y) + sin^2(w_y / 2) cos(w_x)]``: a high-pass
across the edge times a low-pass along it, with weights that sum to 0 over the frequency
grid, so a flat (white) spectrum contributes 0, whatever its level.

Why not subtract a white-noise floor read off the highest band instead: that assumes the
data have no power there, and 8x8 digits have a lot (their strokes are a pixel wide).

**Radial power spectrum** (for the page). ``P(f) = |DFT(u - mean u)|^2 / (H W)`` per
channel, so white noise of variance s^2 has ``P = s^2`` at every frequency; ``f`` in cycles
per pixel, radius ``|f|`` from 0 to ``1/sqrt(2)``. Averaged over the radial bands of
:data:`BANDS` and compared with the data's, band by band: a blur shows as a deficit in the
mid and high bands, independent pixel noise as a flat excess that grows, relative to the
data's falling spectrum, toward the high band.

Every ratio to the data here holds the data fixed (as :func:`~genlab.metrics.frechet.
frechet_bootstrap_se` does): models compared in one table share the reference, so its noise
is shared. The SE of a ratio is that of the samples' mean over the images
(``std / sqrt(n)``, what a bootstrap over the samples converges to), divided by the data's
mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "BANDS",
    "MeanRatio",
    "band_power",
    "edge_energy",
    "mean_ratio",
    "power_spectrum",
    "radial_frequency",
    "radial_profile",
    "spectral_scores",
]

# radial bands in cycles per pixel (Nyquist is 0.5 along an axis, the corner 1/sqrt(2));
# each band is (low, high]: thirds of the axis Nyquist, the high band out past the corner
# (0.75, so the corner's rounding cannot drop it)
BANDS: dict[str, tuple[float, float]] = {
    "low": (0.0, 1 / 6),
    "mid": (1 / 6, 1 / 3),
    "high": (1 / 3, 0.75),
}


def _unit(x: torch.Tensor, levels: int) -> torch.Tensor:
    assert x.dim() == 4, f"expected images (N, C, H, W), got {tuple(x.shape)}"
    assert min(x.shape[-2:]) >= 2, f"images need 2 pixels a side, got {tuple(x.shape)}"
    return x.double() / (levels - 1)


def edge_energy(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(N,) coherent edge energy ``E`` (module docstring) of images (N, C, H, W) holding
    levels ``0 .. levels-1`` (any dtype), in (unit intensity)^2."""
    u = _unit(x, levels)
    gx = u[..., :, 1:] - u[..., :, :-1]  # (N, C, H, W-1)
    gy = u[..., 1:, :] - u[..., :-1, :]  # (N, C, H-1, W)
    along_x = gx[..., 1:, :] * gx[..., :-1, :]  # (N, C, H-1, W-1): one pixel down the edge
    along_y = gy[..., :, 1:] * gy[..., :, :-1]  # (N, C, H-1, W-1)
    return 0.5 * (along_x + along_y).mean(dim=(1, 2, 3))


def radial_frequency(h: int, w: int) -> torch.Tensor:
    """(H, W) radius ``|f|`` in cycles per pixel of each DFT coefficient (float64)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    return (fy.square() + fx.square()).sqrt()


def power_spectrum(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(N, H, W) power ``|DFT(u - mean u)|^2 / (H W)`` of images (N, C, H, W), averaged over
    channels, in (unit intensity)^2; white noise of variance s^2 has power s^2 everywhere."""
    u = _unit(x, levels)
    u = u - u.mean(dim=(-2, -1), keepdim=True)
    h, w = u.shape[-2:]
    return (torch.fft.fft2(u).abs().square() / (h * w)).mean(dim=1)


def radial_profile(power: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(N, B) mean power over the frequencies with radius in (edges[b], edges[b+1]] of a
    power spectrum (N, H, W); a bin with no frequency gives NaN."""
    r = radial_frequency(*power.shape[-2:]).flatten()
    flat = power.flatten(1)  # (N, H*W)
    out = []
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        inside = (r > lo) & (r <= hi)
        out.append(flat[:, inside].mean(1) if inside.any() else flat[:, 0] * math.nan)
    return torch.stack(out, dim=1)


def band_power(x: torch.Tensor, levels: int) -> dict[str, torch.Tensor]:
    """Band name -> (N,) mean power of images (N, C, H, W) over that radial band of
    :data:`BANDS`, in (unit intensity)^2."""
    power = power_spectrum(x, levels)
    return {
        name: radial_profile(power, torch.tensor(band, dtype=torch.float64))[:, 0]
        for name, band in BANDS.items()
    }


@dataclass(frozen=True)
class MeanRatio:
    """``ratio`` = mean of a per-image score over the samples / its mean over the data,
    and the SE of the samples' mean divided by the data's (the data held fixed)."""

    ratio: float
    se: float


def mean_ratio(samples: torch.Tensor, reference: torch.Tensor) -> MeanRatio:
    """Ratio of the means of per-image scores (N,) and (M,), with its SE over the samples."""
    assert len(samples) > 1, f"need 2 samples for an SE, got {len(samples)}"
    ref = float(reference.double().mean())
    assert ref > 0, f"the reference's mean score {ref} is not positive"
    s = samples.double()
    return MeanRatio(float(s.mean()) / ref, float(s.std()) / math.sqrt(len(s)) / ref)


def spectral_scores(samples: torch.Tensor, real: torch.Tensor, levels: int) -> dict[str, float]:
    """Samples' blur against the data (both (N, C, H, W) in levels ``0 .. levels-1``).

    Returns ``edge_ratio`` (coherent edge energy over the data's: 1 = as sharp as the
    data, < 1 blurred, unchanged in expectation by per-pixel noise), ``power_BAND_ratio``
    for each band of :data:`BANDS` (mean power over the data's in that band), each with
    ``*_se`` (over the samples, the data held fixed), and ``edge_energy`` with its SE in
    (unit intensity)^2.
    """
    edges_s, edges_r = edge_energy(samples, levels), edge_energy(real, levels)
    edge = mean_ratio(edges_s, edges_r)
    out = {"edge_ratio": edge.ratio, "edge_ratio_se": edge.se}
    out["edge_energy"] = float(edges_s.mean())
    out["edge_energy_se"] = float(edges_s.std()) / math.sqrt(len(edges_s))
    bands_s, bands_r = band_power(samples, levels), band_power(real, levels)
    for name in BANDS:
        band = mean_ratio(bands_s[name], bands_r[name])
        out[f"power_{name}_ratio"], out[f"power_{name}_ratio_se"] = band.ratio, band.se
    return out
