"""The ``vae`` family: variational autoencoders with decoder distributions over the data's
levels, ELBO / IWAE training and importance-sampled likelihoods."""

from __future__ import annotations

from genlab.family import Family
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
from genlab.vae.model import VAE, VAEConfig, build_vae

__all__ = [
    "FAMILY",
    "VAE",
    "VAEConfig",
    "build_vae",
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

FAMILY = Family(
    name="vae",
    config=VAEConfig,
    build=build_vae,
    defaults={
        "train.steps": 5000,
        "train.batch_size": 128,
        "train.lr": 1e-3,
        "train.weight_decay": 0.1,  # AdamW, decoupled; with dropout, against overfitting
        "train.grad_clip": 10.0,
        "train.ema": 0.995,
        "train.val_fraction": 0.1,
        "train.eval_every": 250,
        "train.select": "best",
        # validation scores nll with model.val_samples importance samples per image
    },
    description="variational autoencoder (MLP encoder/decoder, discretized logistic decoder)",
)
