"""Coherent edge energy and the radial power spectrum (genlab.metrics.spectrum): against
naive loops and Parseval, blur lowers them, per-pixel noise does not raise the edge energy
(while it fools the Laplacian), the data against itself gives 1."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.metrics.sharpness import sharpness_ratio
from genlab.metrics.spectrum import (
    BANDS,
    band_power,
    edge_energy,
    mean_ratio,
    power_spectrum,
    radial_frequency,
    radial_profile,
    spectral_scores,
)

LEVELS = 17


def _images(n: int = 5, c: int = 2, h: int = 5, w: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, LEVELS, (n, c, h, w), generator=g)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """3x3 box blur (replicate padding), rounded back to the levels."""
    return F.avg_pool2d(F.pad(x.float(), (1, 1, 1, 1), mode="replicate"), 3, stride=1).round()


def test_edge_energy_matches_a_naive_loop() -> None:
    x = _images()
    u = x.double() / (LEVELS - 1)
    n, c, h, w = u.shape
    want = []
    for im in u:
        total = 0.0
        for ch in range(c):
            for i in range(h - 1):
                for j in range(w - 1):
                    gx = (im[ch, i, j + 1] - im[ch, i, j]) * (
                        im[ch, i + 1, j + 1] - im[ch, i + 1, j]
                    )
                    gy = (im[ch, i + 1, j] - im[ch, i, j]) * (
                        im[ch, i + 1, j + 1] - im[ch, i, j + 1]
                    )
                    total += float(gx + gy)
        want.append(0.5 * total / (c * (h - 1) * (w - 1)))
    torch.testing.assert_close(edge_energy(x, LEVELS), torch.tensor(want, dtype=torch.float64))


def test_straight_edge_and_its_blur() -> None:
    """A vertical unit step: every gradient product is 1 along the edge column; a 2-pixel
    ramp halves the summed squared gradient."""
    sharp = torch.zeros(1, 1, 6, 6)
    sharp[..., 3:] = 16
    ramp = sharp.clone()
    ramp[..., 3] = 8
    e_sharp, e_ramp = float(edge_energy(sharp, LEVELS)), float(edge_energy(ramp, LEVELS))
    assert e_sharp == pytest.approx(0.5 * 5 / 25)  # 5 rows of pairs, one edge column of 5
    assert e_ramp == pytest.approx(e_sharp / 2)


def test_independent_pixel_noise_leaves_the_expected_edge_energy_unchanged() -> None:
    """E[E(m + e)] = E(m) for noise independent across pixels with zero mean, whatever its
    (pixel-dependent) variance: the mean over many draws sits within 4 SE of E(m)."""
    g = torch.Generator().manual_seed(1)
    m = _images(n=1, c=1, h=8, w=8).double().expand(4000, 1, 8, 8)
    scale = 1 + 4 * torch.rand((1, 1, 8, 8), generator=g, dtype=torch.float64)
    noisy = m + scale * torch.randn(m.shape, generator=g, dtype=torch.float64)
    got = edge_energy(noisy, LEVELS)
    clean = float(edge_energy(m[:1], LEVELS))
    se = float(got.std()) / math.sqrt(len(got))
    assert abs(float(got.mean()) - clean) < 4 * se, (float(got.mean()), clean, se)
    # pure white noise: no coherent edges, yet flat power equal to its variance
    white = 3.0 * torch.randn((4000, 1, 8, 8), generator=g, dtype=torch.float64)
    assert abs(float(edge_energy(white, LEVELS).mean())) < 4 * float(
        edge_energy(white, LEVELS).std()
    ) / math.sqrt(4000)
    power = power_spectrum(white, LEVELS).mean(0)[radial_frequency(8, 8) > 0]
    torch.testing.assert_close(
        power.mean(), torch.tensor((3.0 / 16) ** 2 * 63 / 64).double(), rtol=0.02, atol=0
    )


def test_power_spectrum_keeps_parseval() -> None:
    """The mean of P over the frequencies is the image's pixel variance (per channel)."""
    x = _images()
    u = x.double() / (LEVELS - 1)
    variance = u.var(dim=(-2, -1), unbiased=False).mean(1)  # (N,)
    torch.testing.assert_close(power_spectrum(x, LEVELS).mean(dim=(-2, -1)), variance)


def test_radial_profile_and_bands_against_a_loop() -> None:
    power = power_spectrum(_images(h=8, w=8), LEVELS)
    r = radial_frequency(8, 8)
    edges = torch.tensor([0.0, 0.2, 0.5, 0.8], dtype=torch.float64)
    got = radial_profile(power, edges)
    for b in range(3):
        inside = (r > edges[b]) & (r <= edges[b + 1])
        torch.testing.assert_close(got[:, b], power[:, inside].mean(1))
    # the bands cover every frequency but the mean (r = 0), each once
    counts = sum(int(((r > lo) & (r <= hi)).sum()) for lo, hi in BANDS.values())
    assert counts == 8 * 8 - 1 and float(r.max()) <= max(hi for _, hi in BANDS.values())
    assert set(band_power(_images(h=8, w=8), LEVELS)) == set(BANDS)


def test_mean_ratio_and_its_se() -> None:
    got = mean_ratio(torch.tensor([1.0, 3.0]), torch.tensor([4.0, 0.0]))
    assert got.ratio == pytest.approx(1.0) and got.se == pytest.approx(
        math.sqrt(2) / math.sqrt(2) / 2
    )


def test_data_against_itself_is_one(digits) -> None:
    got = spectral_scores(digits.test.x, digits.test.x.clone(), LEVELS)
    for key in ("edge_ratio", *(f"power_{b}_ratio" for b in BANDS)):
        assert got[key] == pytest.approx(1.0) and got[f"{key}_se"] > 0


def test_blur_lowers_edges_and_the_upper_bands(digits) -> None:
    x = digits.test.x
    got = spectral_scores(_blur(x), x, LEVELS)
    assert got["edge_ratio"] + 4 * got["edge_ratio_se"] < 0.5
    assert got["power_mid_ratio"] < 0.5 and got["power_high_ratio"] < 0.2


def test_pixel_noise_fools_the_laplacian_but_not_the_edge_ratio(digits) -> None:
    """Data + i.i.d. noise: the Laplacian and the high band call it sharper than the data,
    the edge ratio stays at 1 within noise (clamped to the levels: at or below 1); a blur
    with the same noise on top stays blurred."""
    x = digits.test.x.float()
    g = torch.Generator().manual_seed(0)
    noisy = x + 6 * torch.randn(x.shape, generator=g)
    got = spectral_scores(noisy, x, LEVELS)
    assert sharpness_ratio(noisy, x, LEVELS) > 3 and got["power_high_ratio"] > 3
    assert abs(got["edge_ratio"] - 1) < 3 * got["edge_ratio_se"]
    clamped = spectral_scores(noisy.round().clamp(0, LEVELS - 1), x, LEVELS)
    assert clamped["edge_ratio"] + 2 * clamped["edge_ratio_se"] < 1
    blurred_noisy = _blur(x) + 6 * torch.randn(x.shape, generator=g)
    assert sharpness_ratio(blurred_noisy, x, LEVELS) > 2
    blur = spectral_scores(blurred_noisy, x, LEVELS)
    assert blur["edge_ratio"] + 4 * blur["edge_ratio_se"] < 0.6


def test_fourier_form_of_the_edge_energy_on_a_periodic_image() -> None:
    """With wrap-around differences, E = mean_w P(w) 2 [sin^2(w_x/2) cos w_y + sin^2(w_y/2)
    cos w_x] (the module docstring), and those weights sum to 0 (white noise adds 0)."""
    x = _images(n=3, c=1, h=6, w=8)
    u = x.double() / (LEVELS - 1)
    gx = u.roll(-1, dims=-1) - u
    gy = u.roll(-1, dims=-2) - u
    direct = 0.5 * (gx * gx.roll(-1, dims=-2) + gy * gy.roll(-1, dims=-1)).mean(dim=(1, 2, 3))
    wy = 2 * math.pi * torch.fft.fftfreq(6, dtype=torch.float64)[:, None]
    wx = 2 * math.pi * torch.fft.fftfreq(8, dtype=torch.float64)[None, :]
    weight = 2 * ((wx / 2).sin().square() * wy.cos() + (wy / 2).sin().square() * wx.cos())
    assert abs(float(weight.sum())) < 1e-12
    fourier = (power_spectrum(x, LEVELS) * weight).mean(dim=(-2, -1))
    torch.testing.assert_close(fourier, direct)
