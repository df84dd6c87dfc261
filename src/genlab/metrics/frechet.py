"""Fréchet distance and kernel inception distance between two feature sets.

Both compare samples through a feature network (see :mod:`genlab.metrics.features`).
The Fréchet distance (Heusel et al. 2017, "GANs trained by a two time-scale update
rule", Eq. 6; Dowson & Landau 1982) is the 2-Wasserstein distance between Gaussians
fitted to each set. KID (Bińkowski et al. 2018, "Demystifying MMD GANs", Sec. 4) is
the unbiased squared MMD with the cubic polynomial kernel, averaged over subsets.
"""

from __future__ import annotations

import torch

__all__ = [
    "frechet_bootstrap_se",
    "frechet_distance",
    "gaussian_frechet",
    "kernel_inception_distance",
    "polynomial_mmd2",
]

BOOTSTRAP_DRAWS = 100


def gaussian_frechet(
    mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor
) -> float:
    """Fréchet distance of N(mu_a, cov_a) and N(mu_b, cov_b) (means (F,), covs (F, F)).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``. The
    last trace is the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``S_a^1/2 S_b S_a^1/2``, so two symmetric eigendecompositions suffice
    (no non-symmetric sqrtm); round-off negatives are clamped to 0.
    """
    mu_a, mu_b, cov_a, cov_b = (t.double() for t in (mu_a, mu_b, cov_a, cov_b))
    sqrt_a = _psd_sqrt(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0.0)
    tr_covmean = eig.sqrt().sum()
    dist = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * tr_covmean
    return float(dist.clamp_min(0.0))


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (negative eigenvalues clamped)."""
    eig, vec = torch.linalg.eigh((cov + cov.T) / 2)
    return (vec * eig.clamp_min(0.0).sqrt()) @ vec.T


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets (N_a, F) and (N_b, F).

    Computed in float64 with unbiased (N-1) covariances. Units: squared feature units.
    """
    assert feats_a.dim() == 2 and feats_b.dim() == 2, (feats_a.shape, feats_b.shape)
    assert feats_a.shape[1] == feats_b.shape[1], (feats_a.shape, feats_b.shape)
    assert len(feats_a) > 1 and len(feats_b) > 1, (len(feats_a), len(feats_b))
    a, b = feats_a.double(), feats_b.double()
    return gaussian_frechet(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def frechet_bootstrap_se(
    feats_a: torch.Tensor,
    feats_b: torch.Tensor,
    *,
    draws: int = BOOTSTRAP_DRAWS,
    generator: torch.Generator | None = None,
) -> float:
    """Standard error of ``frechet_distance(feats_a, feats_b)`` over the samples ``a``.

    The rows of ``feats_a`` (N_a, F) are resampled with replacement ``draws`` times
    (Efron's bootstrap) and the FD recomputed against the fixed reference ``feats_b``;
    the SE is the standard deviation of those FDs. The reference is held fixed because
    every model compared in one table is scored against the same one, so its noise is
    shared. ``generator`` draws the resamples (seed 0 when None).
    """
    assert draws >= 2 and len(feats_a) > 1, (draws, len(feats_a))
    gen = generator or torch.Generator().manual_seed(0)
    a, b = feats_a.double().cpu(), feats_b.double().cpu()
    mu_b, cov_b = b.mean(0), torch.cov(b.T)
    fds = []
    for _ in range(draws):
        pick = a[torch.randint(len(a), (len(a),), generator=gen)]
        fds.append(gaussian_frechet(pick.mean(0), torch.cov(pick.T), mu_b, cov_b))
    return float(torch.tensor(fds).std())


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 of sets x, y (m, F) with k(u, v) = (u.v / F + 1)^3 (scalar tensor).

    ``sum_{i != j} k(x_i, x_j) / (m(m-1)) + same for y - 2 sum_{i,j} k(x_i, y_j) / m^2``.
    """
    m, dim = x.shape
    assert y.shape == (m, dim) and m > 1, (x.shape, y.shape)
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    off_diag = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    return off_diag / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def kernel_inception_distance(
    feats_a: torch.Tensor,
    feats_b: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """KID between feature sets (N_a, F) and (N_b, F): (mean, std) over random subsets.

    Each subset draws ``m = min(subset_size, N_a, N_b)`` rows from each set without
    replacement and computes :func:`polynomial_mmd2` in float64. ``generator``
    (CPU) makes the draws reproducible; the default is seeded with 0.
    """
    assert feats_a.shape[1] == feats_b.shape[1], (feats_a.shape, feats_b.shape)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    a, b = feats_a.double(), feats_b.double()
    m = min(subset_size, len(a), len(b))
    values = torch.empty(subsets, dtype=torch.float64)
    for s in range(subsets):
        ia = torch.randperm(len(a), generator=gen)[:m].to(a.device)
        ib = torch.randperm(len(b), generator=gen)[:m].to(b.device)
        values[s] = polynomial_mmd2(a[ia], b[ib]).cpu()
    std = float(values.std()) if subsets > 1 else 0.0
    return float(values.mean()), std
