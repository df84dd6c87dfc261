"""Variational autoencoders (in progress: decoder distributions and bounds)."""

from __future__ import annotations

from genlab.vae.bounds import (
    ElboTerms,
    elbo,
    gaussian_kl,
    gaussian_kl_per_dim,
    iwae_bound,
    reparameterize,
)
from genlab.vae.likelihoods import (
    Bernoulli,
    Categorical,
    DiscretizedLogistic,
    Gaussian,
    Likelihood,
    log_sigmoid_diff,
    make_likelihood,
)

__all__ = [
    "Bernoulli",
    "Categorical",
    "DiscretizedLogistic",
    "ElboTerms",
    "Gaussian",
    "Likelihood",
    "elbo",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "iwae_bound",
    "log_sigmoid_diff",
    "make_likelihood",
    "reparameterize",
]
