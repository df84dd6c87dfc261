from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.metrics import high_frequency_energy, sharpness_ratio
from genlab.metrics.sharpness import laplacian


def _manual_laplacian(img: torch.Tensor) -> torch.Tensor:
    c, h, w = img.shape
    out = torch.zeros_like(img)
    for ch in range(c):
        for i in range(h):
            for j in range(w):

                def at(a: int, b: int, ch: int = ch) -> float:
                    return float(img[ch, min(max(a, 0), h - 1), min(max(b, 0), w - 1)])

                out[ch, i, j] = at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1)
                out[ch, i, j] -= 4 * at(i, j)
    return out


def _images(n: int = 6, c: int = 2, size: int = 5, levels: int = 17) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, levels, (n, c, size, size), generator=g)


def test_laplacian_matches_manual_convolution() -> None:
    x = _images().double()
    got = laplacian(x)
    for n in range(len(x)):
        torch.testing.assert_close(got[n], _manual_laplacian(x[n]))


def test_energy_matches_manual_definition() -> None:
    x = _images(levels=17)
    expected = [float((_manual_laplacian(im.double() / 16) ** 2).mean()) for im in x]
    got = high_frequency_energy(x, 17)
    assert got.shape == (len(x),)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_constant_image_has_no_energy() -> None:
    assert float(high_frequency_energy(torch.full((2, 1, 4, 4), 7), 17).abs().max()) == 0.0


def test_ratio_of_identical_sets_is_one(digits) -> None:
    assert sharpness_ratio(digits.test.x, digits.test.x.clone(), 17) == pytest.approx(1.0)


def test_blurred_copy_is_less_sharp(digits) -> None:
    x = digits.test.x.float()
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1).round()
    assert sharpness_ratio(blurred, x, 17) < 0.5
    noisy = x + 3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert sharpness_ratio(noisy.round().clamp(0, 16), x, 17) > 1.0
