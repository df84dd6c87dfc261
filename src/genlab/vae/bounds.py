"""Pure terms of the VAE bounds on log p(x), in nats, per example (N,).

    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || p(z))             (ELBO, Kingma & Welling
                                                                       2014, eq. 3)
    log p(x) >= E[log 1/K sum_k p(x, z_k) / q(z_k | x)],  z_k ~ q     (IWAE, Burda et al.
                                                                       2016, eq. 8)

The prior is p(z) = N(0, I) and the encoder q(z | x) = N(mu, diag exp(logvar)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlab.nn.distributions import sum_per_example

__all__ = [
    "ElboTerms",
    "elbo",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "iwae_bound",
    "log_prior_over_proposal",
    "reparameterize",
]


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mu, exp(logvar)) || N(0, 1)) in nats, (N, *Z) -> (N, *Z).

    0.5 (mu^2 + exp(logvar) - 1 - logvar) (Kingma & Welling 2014, appendix B)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, (N, *Z) -> (N,)
    (Kingma & Welling 2014, appendix B)."""
    return sum_per_example(gaussian_kl_per_dim(mu, logvar))


@dataclass(frozen=True)
class ElboTerms:
    """Per-example terms, each (N,), in nats.

    ``elbo = log_px_z - kl`` is the bound itself (beta and free bits never change it);
    ``loss = -(log_px_z - beta * kl_penalty)`` is what to minimise, with ``kl_penalty`` the
    KL after free bits (equal to ``kl`` when no free bits apply)."""

    elbo: torch.Tensor
    loss: torch.Tensor
    log_px_z: torch.Tensor
    kl: torch.Tensor
    kl_penalty: torch.Tensor


def elbo(
    log_px_z: torch.Tensor,
    kl: torch.Tensor,
    beta: float = 1.0,
    free_bits: float = 0.0,
    kl_per_dim: torch.Tensor | None = None,
) -> ElboTerms:
    """ELBO terms from the reconstruction log-likelihood (N,) and the KL (N,), in nats.

    ``beta`` weighs the KL in the loss (beta-VAE, Higgins et al. 2017, eq. 4). ``free_bits``
    (lambda, nats per latent dimension) needs ``kl_per_dim`` (N, Z): the penalty is
    ``sum_j max(lambda, KL_j)`` (Kingma et al. 2016, appendix C.8), so no gradient reaches a
    dimension whose KL is below lambda. The paper clamps the minibatch mean of each KL_j;
    pass ``kl_per_dim.mean(0, keepdim=True)`` (1, Z) for that, or (N, Z) to clamp per example.
    """
    if free_bits > 0.0 and kl_per_dim is None:
        raise ValueError("free_bits needs the per-dimension KL: pass kl_per_dim (N, Z)")
    if kl_per_dim is None:
        penalty = kl
    else:
        clamped = torch.clamp(kl_per_dim, min=free_bits) if free_bits > 0.0 else kl_per_dim
        penalty = sum_per_example(clamped).expand_as(kl)
    return ElboTerms(
        elbo=log_px_z - kl,
        loss=-(log_px_z - beta * penalty),
        log_px_z=log_px_z,
        kl=kl,
        kl_penalty=penalty,
    )


def iwae_bound(log_p_xz: torch.Tensor, log_q_z: torch.Tensor) -> torch.Tensor:
    """log 1/K sum_k exp(log p(x, z_k) - log q(z_k | x)), (K, N) -> (N,), in nats.

    The importance-weighted bound (Burda et al. 2016, eq. 8), computed as
    ``logsumexp - log K``; K = 1 is the single-sample ELBO."""
    assert log_p_xz.shape == log_q_z.shape and log_p_xz.dim() == 2, (
        f"need (K, N) for both, got {tuple(log_p_xz.shape)} and {tuple(log_q_z.shape)}"
    )
    return torch.logsumexp(log_p_xz - log_q_z, dim=0) - math.log(log_p_xz.shape[0])


def log_prior_over_proposal(
    z: torch.Tensor, eps: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log p(z) - log q(z | x) for z = mu + exp(logvar / 2) eps, (..., Z) -> (...), nats.

    With p = N(0, I) and q = N(mu, diag exp(logvar)) this is
    ``0.5 sum_j (eps_j^2 - z_j^2 + logvar_j)``: the 2 pi terms cancel and
    (z - mu)^2 / exp(logvar) is eps^2, so nothing is divided by a small variance."""
    return 0.5 * (eps.square() - z.square() + logvar).sum(-1)


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
    samples: int = 1,
) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I): (N, *Z) -> (samples, N, *Z).

    The sample axis is always there (``samples = 1`` gives (1, N, *Z)); differentiable in
    mu and logvar (Kingma & Welling 2014, eq. 10)."""
    eps = torch.randn((samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps
