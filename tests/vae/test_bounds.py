"""VAE bound terms checked in float64 against independent truth: torch's analytic KL and a
Monte-Carlo estimate, and a 1-D linear-Gaussian model whose log p(x), posterior and ELBO
are known in closed form (Burda et al. 2016, eq. 8; Kingma et al. 2016, appendix C.8)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlab.vae.bounds import (
    elbo,
    gaussian_kl,
    gaussian_kl_per_dim,
    iwae_bound,
    reparameterize,
)

D64 = torch.float64
STD_NORMAL = Normal(torch.tensor(0.0, dtype=D64), torch.tensor(1.0, dtype=D64))


def encoder(gen: torch.Generator, n: int = 4, z: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    mu = 1.5 * torch.randn(n, z, generator=gen, dtype=D64)
    logvar = torch.randn(n, z, generator=gen, dtype=D64)
    return mu, logvar


def test_gaussian_kl_matches_torch_kl_divergence():
    mu, logvar = encoder(torch.Generator().manual_seed(0))
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), STD_NORMAL).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), want, rtol=1e-12, atol=1e-12)
    assert gaussian_kl_per_dim(mu, logvar).shape == mu.shape


def test_gaussian_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(1)
    mu, logvar = encoder(gen)
    z = reparameterize(mu, logvar, gen, samples=100_000)  # (S, N, Z)
    q, p = Normal(mu, (0.5 * logvar).exp()), STD_NORMAL
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, N)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    assert ((mc - gaussian_kl(mu, logvar)).abs() < 5 * se).all()


def test_reparameterize_shape_moments_and_seed():
    mu = torch.tensor([[0.5, -2.0]], dtype=D64)
    logvar = torch.tensor([[0.0, math.log(0.25)]], dtype=D64, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(2), samples=50_000)
    assert z.shape == (50_000, 1, 2) and z.dtype == D64
    torch.testing.assert_close(z.mean(0), mu, rtol=0, atol=0.02)
    torch.testing.assert_close(z.std(0), torch.tensor([[1.0, 0.5]], dtype=D64), rtol=0.02, atol=0)
    again = reparameterize(mu, logvar, torch.Generator().manual_seed(2), samples=50_000)
    assert torch.equal(z, again)
    assert reparameterize(mu, logvar).shape == (1, 1, 2)
    z.sum().backward()
    assert torch.isfinite(logvar.grad).all() and (logvar.grad != 0).all()


# 1-D linear-Gaussian model: z ~ N(0, 1), x | z ~ N(A z + B, S^2), so that
# p(x) = N(x; B, A^2 + S^2) and p(z | x) = N(A (x - B) / (A^2 + S^2), S^2 / (A^2 + S^2)).
A, B, S = 1.7, 0.3, 0.6
X = torch.tensor([-1.0, 0.4, 2.5], dtype=D64)
LOG_PX = Normal(torch.tensor(B, dtype=D64), torch.tensor(A**2 + S**2, dtype=D64).sqrt()).log_prob(X)
POST_MEAN, POST_VAR = A * (X - B) / (A**2 + S**2), S**2 / (A**2 + S**2)
# a deliberately wrong q: shifted, and wider than the posterior (finite weight variance)
Q_MEAN, Q_VAR = POST_MEAN + 0.3, torch.full_like(X, 1.5 * POST_VAR)


def log_weights(q_mean, q_var, k: int, draws: int, gen: torch.Generator) -> torch.Tensor:
    """(K, draws * N) log p(x, z_k) and log q(z_k | x) for z_k ~ q, (K, draws, N) flattened."""
    mu = q_mean.expand(draws, -1)
    z = reparameterize(mu, torch.log(q_var).expand(draws, -1), gen, samples=k)  # (K, R, N)
    log_p = STD_NORMAL.log_prob(z) + Normal(A * z + B, torch.full_like(z, S)).log_prob(X)
    log_q = Normal(q_mean, q_var.sqrt()).log_prob(z)
    return log_p.reshape(k, -1), log_q.reshape(k, -1)


def analytic_elbo(q_mean, q_var) -> torch.Tensor:
    recon = -0.5 * math.log(2 * math.pi * S**2) - ((X - B - A * q_mean) ** 2 + A**2 * q_var) / (
        2 * S**2
    )
    return recon - gaussian_kl(q_mean.view(-1, 1), torch.log(q_var).view(-1, 1))


def test_iwae_increases_with_k_and_reaches_log_px():
    gen = torch.Generator().manual_seed(3)
    means, ses = [], []  # all x share one weight distribution: gaps alike, noise differs
    for k, draws in [(1, 4000), (5, 4000), (50, 2000), (500, 400), (5000, 300)]:
        bound = iwae_bound(*log_weights(Q_MEAN, Q_VAR, k, draws, gen)).view(draws, -1)
        means.append(bound.mean(0))
        ses.append(bound.std(0) / math.sqrt(draws))
    for i in range(len(means) - 1):
        lo, hi, se_lo, se_hi = means[i], means[i + 1], ses[i], ses[i + 1]
        assert (hi > lo - 3 * (se_lo + se_hi)).all()
    assert (means[1] > means[0]).all() and (means[2] > means[1]).all()  # gaps well above noise
    # K = 1 is the ELBO in expectation; K = 5000 within 2e-3 nats of log p(x), from below
    assert ((means[0] - analytic_elbo(Q_MEAN, Q_VAR)).abs() < 4 * ses[0]).all()
    assert (LOG_PX - analytic_elbo(Q_MEAN, Q_VAR) > 0.05).all()  # q really is wrong
    assert ((means[-1] - LOG_PX).abs() < 2e-3).all()
    assert (means[-1] <= LOG_PX + 4 * ses[-1]).all()


@pytest.mark.parametrize("k", [1, 7])
def test_iwae_with_exact_posterior_has_zero_variance(k):
    log_p, log_q = log_weights(POST_MEAN, torch.full_like(X, POST_VAR), k, 50, torch.Generator())
    torch.testing.assert_close(log_p - log_q, LOG_PX.repeat(50).expand(k, -1), rtol=0, atol=1e-12)
    bound = iwae_bound(log_p, log_q)
    torch.testing.assert_close(bound, LOG_PX.repeat(50), rtol=0, atol=1e-12)


def test_iwae_is_stable_for_huge_log_weights():
    log_p = torch.tensor([[-1000.0], [-1001.0]], dtype=D64)
    got = iwae_bound(log_p, torch.zeros_like(log_p))
    want = -1000.0 + math.log1p(math.exp(-1.0)) - math.log(2.0)
    assert got.item() == pytest.approx(want, rel=1e-14)


def test_elbo_terms_and_beta():
    log_px_z = torch.tensor([-10.0, -3.0], dtype=D64)
    kl = torch.tensor([2.0, 0.5], dtype=D64)
    terms = elbo(log_px_z, kl, beta=4.0)
    torch.testing.assert_close(terms.elbo, log_px_z - kl)
    torch.testing.assert_close(terms.loss, -(log_px_z - 4.0 * kl))
    assert torch.equal(terms.kl_penalty, kl)
    with pytest.raises(ValueError, match="kl_per_dim"):
        elbo(log_px_z, kl, free_bits=0.5)


def test_free_bits_clamp_each_dimension_and_block_its_gradient():
    lam, beta = 0.5, 2.0
    kl_dims = torch.tensor([[0.1, 0.9, 0.3], [2.0, 0.0, 0.6]], dtype=D64, requires_grad=True)
    kl = kl_dims.sum(1)
    terms = elbo(torch.tensor([-5.0, -6.0], dtype=D64), kl, beta, lam, kl_dims)
    want = torch.tensor([0.5 + 0.9 + 0.5, 2.0 + 0.5 + 0.6], dtype=D64)
    torch.testing.assert_close(terms.kl_penalty, want)
    torch.testing.assert_close(terms.elbo, torch.tensor([-5.0 - 1.3, -6.0 - 2.6], dtype=D64))
    terms.loss.sum().backward()
    active = (kl_dims > lam).double()
    torch.testing.assert_close(kl_dims.grad, beta * active)
    assert (kl_dims.grad[kl_dims < lam] == 0).all()


def test_free_bits_on_the_minibatch_mean():
    kl_dims = torch.tensor([[0.1, 0.9], [0.3, 1.1]], dtype=D64)
    terms = elbo(torch.zeros(2, dtype=D64), kl_dims.sum(1), 1.0, 0.5, kl_dims.mean(0, True))
    torch.testing.assert_close(terms.kl_penalty, torch.full((2,), 0.5 + 1.0, dtype=D64))
