from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.metrics import frechet_distance, kernel_inception_distance
from genlab.metrics.frechet import frechet_bootstrap_se, gaussian_frechet, polynomial_mmd2


def _gaussian(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    return torch.randn(n, dim, generator=g, dtype=torch.float64) @ mix + shift


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_fd_matches_scipy_sqrtm(dim: int) -> None:
    a, b = _gaussian(500, dim, 0), _gaussian(400, dim, 1, shift=0.3)
    expected = _scipy_fd(a.numpy(), b.numpy())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_fd_is_symmetric_and_float32_input_works() -> None:
    a, b = _gaussian(300, 8, 2), _gaussian(300, 8, 3, shift=1.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a.float(), b.float()) == pytest.approx(frechet_distance(a, b), rel=1e-5)


def test_fd_of_a_set_with_itself_is_zero() -> None:
    a = _gaussian(200, 32, 4)
    assert abs(frechet_distance(a, a)) < 1e-9


def test_fd_with_singular_covariance_is_finite() -> None:
    a = torch.zeros(100, 10, dtype=torch.float64)
    a[:, :3] = _gaussian(100, 3, 5)  # rank 3 of 10
    b = _gaussian(100, 10, 6)
    assert np.isfinite(frechet_distance(a, b))
    assert abs(frechet_distance(a, a)) < 1e-9


def test_gaussian_frechet_closed_form_for_diagonal_covariances() -> None:
    f64 = torch.float64
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0], dtype=f64), torch.tensor([1.0, 1.0, 0.5], dtype=f64)
    s1, s2 = torch.tensor([1.0, 4.0, 0.25], dtype=f64), torch.tensor([2.0, 1.0, 9.0], dtype=f64)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * (s1 * s2).sqrt()).sum()
    got = gaussian_frechet(mu1, torch.diag(s1), mu2, torch.diag(s2))
    assert got == pytest.approx(float(expected), rel=1e-12)


def test_fd_of_samples_approaches_closed_form() -> None:
    g = torch.Generator().manual_seed(7)
    n, mu, std = 200_000, torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5])
    a = torch.randn(n, 2, generator=g, dtype=torch.float64)
    b = torch.randn(n, 2, generator=g, dtype=torch.float64) * std + mu
    expected = (mu**2).sum() + (1 + std**2 - 2 * std).sum()
    assert frechet_distance(a, b) == pytest.approx(float(expected), abs=0.03)


def _naive_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    m, d = x.shape

    def k(u: torch.Tensor, v: torch.Tensor) -> float:
        return float((u @ v / d + 1) ** 3)

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_polynomial_mmd2_matches_naive_loop() -> None:
    x, y = _gaussian(12, 5, 8), _gaussian(12, 5, 9, shift=0.5)
    assert float(polynomial_mmd2(x, y)) == pytest.approx(_naive_mmd2(x, y), rel=1e-10)


def test_kid_full_subsets_match_naive_loop() -> None:
    x, y = _gaussian(10, 4, 10), _gaussian(10, 4, 11, shift=1.0)
    # subset_size >= both sizes: every subset is the whole set, std is 0
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=50)
    assert mean == pytest.approx(_naive_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_seeded_and_separates_distributions() -> None:
    a, b = _gaussian(800, 8, 12).split(400)  # one distribution
    c = b + 1.0
    same = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    assert same == kernel_inception_distance(a, b, subsets=20, subset_size=100)
    other = kernel_inception_distance(a, c, subsets=20, subset_size=100)
    assert abs(same[0]) < 3 * same[1] + 1e-3
    assert other[0] > 10 * max(abs(same[0]), same[1])


def test_bootstrap_se_matches_the_spread_over_fresh_draws() -> None:
    """The bootstrap over one draw's samples estimates the sampling noise of FD: its SE
    agrees with the standard deviation of FD over independent draws from the same
    distribution (within the Monte Carlo error of both, ~30 %)."""
    mix = torch.randn(8, 8, generator=torch.Generator().manual_seed(100), dtype=torch.float64)

    def draw(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, 8, generator=g, dtype=torch.float64) @ mix / 8**0.5 + shift

    ref = draw(2000, 1000)
    fresh = [frechet_distance(draw(200, s, shift=0.2), ref) for s in range(40)]
    spread = float(torch.tensor(fresh).std())
    se = frechet_bootstrap_se(draw(200, 7, shift=0.2), ref, draws=200)
    assert 0.6 < se / spread < 1.6, (se, spread)
    # more samples, smaller SE (about 1/sqrt(n))
    se_big = frechet_bootstrap_se(draw(1600, 7, shift=0.2), ref, draws=200)
    assert 0.2 < se_big / se < 0.55, (se_big, se)
