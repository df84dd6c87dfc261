"""The ``vae`` family: a Gaussian encoder q(z | x), a standard normal prior and a decoder
distribution p(x | z) over the data's levels (Kingma & Welling 2014).

Training maximises the ELBO ``E_q[log p(x | z)] - KL(q(z | x) || p(z))`` (analytic KL),
with beta, a linear KL warm-up and free bits as options, or the IWAE bound with k samples
(Burda et al. 2016). ``nll`` is the importance-sampled estimate
``-log 1/K sum_k p(x, z_k) / q(z_k | x)`` in nats of the discrete data (an upper bound
on -log p(x) in expectation, tight as K grows), so bits/dim compare with every family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.nn import MLP, ConvDecoder, ConvEncoder
from genlab.vae.bounds import elbo, gaussian_kl_per_dim, iwae_bound, reparameterize
from genlab.vae.likelihoods import Likelihood, make_likelihood

__all__ = ["VAE", "VAEConfig", "build_vae"]

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class VAEConfig:
    """Options of the ``vae`` family (``model.KEY=VALUE`` on the command line)."""

    latent: int = 16
    hidden: int = 512
    network: Literal["mlp", "conv"] = "mlp"  # conv: images only (nn/convnet.py)
    depth: int = 2  # hidden layers of the encoder and of the decoder (mlp)
    channels: int = 32  # first level's channels (conv)
    levels: int = 2  # stride-2 levels, channels doubling at each (conv)
    dropout: float = 0.3  # in encoder and decoder: 1437 digits overfit within 1000 steps
    # discretized logistic: 2 numbers per pixel whose neighbouring levels share mass; on
    # digits it generalises far better than a free categorical (val 1.87 vs 2.04 bits/dim)
    likelihood: Literal["categorical", "discretized_logistic", "bernoulli", "gaussian"] = (
        "discretized_logistic"
    )
    beta: float = 1.0
    kl_warmup: int = 0  # training steps over which the KL weight rises linearly to beta
    free_bits: float = 0.0  # nats per latent dimension (minibatch mean), 0: off
    iwae_k: int = 1  # samples of the training bound (1: the ELBO)
    nll_samples: int = 1000  # importance samples of nll()
    val_samples: int = 100  # importance samples of the validation score (weight selection)


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


class VAE(nn.Module):
    """Encoder (N, D) -> (mu, logvar) (N, Z); decoder (N, Z) -> params (N, P, *shape)."""

    steps_seen: torch.Tensor

    def __init__(self, config: VAEConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.shape, self.dims, self.levels = tuple(meta.shape), meta.dims, meta.levels
        try:
            self.likelihood: Likelihood = make_likelihood(config.likelihood, meta.levels)
        except ValueError as err:
            raise ConfigError(f"model.likelihood={config.likelihood}: {err}") from None
        p = self.likelihood.params_per_dim
        self.encoder, self.decoder = _networks(config, self.shape, p)
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))

    # ---------------------------------------------------------------- pieces

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data (N, *shape) -> posterior mean and log-variance, each (N, Z)."""
        dtype = next(self.encoder.parameters()).dtype
        h = to_centered(x, self.levels, dtype)
        h = h.reshape(len(x), -1) if self.config.network == "mlp" else h
        mu, logvar = self.encoder(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (M, Z) -> decoder parameters (M, P, *shape)."""
        return self.decoder(z).reshape(len(z), self.likelihood.params_per_dim, *self.shape)

    # ---------------------------------------------------------------- training

    def _kl_weight(self) -> float:
        warm = self.config.kl_warmup
        ramp = 1.0 if warm <= 0 else min(1.0, (int(self.steps_seen) + 1) / warm)
        return self.config.beta * ramp

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        mu, logvar = self.encode(x)
        if cfg.iwae_k > 1:
            bound = self._iwae(x, mu, logvar, cfg.iwae_k)
            loss = -bound.mean()
            terms = {"bound_bpd": -bound.mean().detach() / (self.dims * math.log(2.0))}
        else:
            z = reparameterize(mu, logvar)[0]
            log_px_z = self.likelihood.log_prob(x, self.decode(z))
            kl_dims = gaussian_kl_per_dim(mu, logvar)
            per_dim = kl_dims.mean(0, keepdim=True) if cfg.free_bits > 0 else None
            t = elbo(log_px_z, kl_dims.sum(1), self._kl_weight(), cfg.free_bits, per_dim)
            loss = t.loss.mean()
            terms = {
                "elbo_bpd": -t.elbo.mean().detach() / (self.dims * math.log(2.0)),
                "kl": t.kl.mean().detach(),
            }
        if self.training:
            self.steps_seen += 1
        return loss / self.dims, terms  # nats/dim: one learning rate for every data size

    def _iwae(
        self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int
    ) -> torch.Tensor:
        """The k-sample importance-weighted bound per example (N,), in nats."""
        z = reparameterize(mu, logvar, samples=k)  # (k, N, Z)
        flat = z.reshape(-1, z.shape[-1])
        params = self.decode(flat)
        xs = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = self.likelihood.log_prob(xs, params).view(k, -1)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _log_normal(z, mu, logvar)
        return iwae_bound(log_px_z + log_pz, log_qz)

    # ---------------------------------------------------------------- likelihood

    @torch.no_grad()
    def nll(self, x: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """-log p(x) by importance sampling with ``samples`` (default ``nll_samples``)
        draws from q, (N,) nats."""
        k = samples or self.config.nll_samples
        mu, logvar = self.encode(x)
        chunk = max(1, 16384 // max(1, len(x)))  # latents decoded at once
        parts = [self._iwae(x, mu, logvar, min(chunk, k - s)) for s in range(0, k, chunk)]
        counts = torch.tensor([min(chunk, k - s) for s in range(0, k, chunk)], device=x.device)
        # combine chunk means: log (sum_c n_c exp(b_c)) - log K
        stacked = torch.stack(parts)  # (C, N)
        weights = torch.log(counts.to(stacked.dtype))[:, None]
        return -(torch.logsumexp(stacked + weights, dim=0) - math.log(k))

    def validation_nll(self, x: torch.Tensor) -> torch.Tensor:
        """The trainer's selection score: ``nll`` with ``val_samples`` draws (its bias
        against K = 1000 is about the same at every step, so the ranking holds)."""
        return self.nll(x, self.config.val_samples)

    # ---------------------------------------------------------------- sampling

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        mode: Literal["sample", "mean"] = "sample",
    ) -> torch.Tensor:
        """``n`` samples in data space: z ~ N(0, I), then x ~ p(x | z) (``mode="sample"``)
        or the decoder's mean rounded to the levels (``mode="mean"``)."""
        if mode not in ("sample", "mean"):
            raise GenlabError(f"--mode {mode}: use sample or mean")
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        z = torch.randn((n, self.config.latent), generator=generator, device=gen_device)
        params = self.decode(z.to(device, next(self.decoder.parameters()).dtype))
        if mode == "mean":
            m = self.likelihood.mean(params)
            if self.levels is None:
                return m
            return m.round().clamp(0, self.levels - 1).long()
        return self.likelihood.sample(params, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the posterior mean, in data space (N, *shape)."""
        mu, _ = self.encode(x)
        m = self.likelihood.mean(self.decode(mu))
        return m if self.levels is None else m.round().clamp(0, self.levels - 1).long()

    def write_pictures(self, test_x: torch.Tensor, out: Path) -> list[Path]:
        """Reconstructions, prior samples and means, interpolations and latent traversals
        of the first test images, as PNGs in ``out`` (see vae/pictures.py)."""
        from genlab.vae.pictures import write_pictures

        return write_pictures(self, test_x, self.meta, out)


def _networks(
    cfg: VAEConfig, shape: tuple[int, ...], params_per_dim: int
) -> tuple[nn.Module, nn.Module]:
    """Encoder (data -> 2Z) and decoder (Z -> P numbers per dimension)."""
    z, dims = cfg.latent, math.prod(shape)
    if cfg.network == "mlp":
        kw = {"hidden": cfg.hidden, "depth": cfg.depth, "dropout": cfg.dropout}
        return (
            MLP(dims, 2 * z, zero_init_last=False, **kw),
            MLP(z, params_per_dim * dims, zero_init_last=False, **kw),
        )
    c = shape[0]
    kw = {"channels": cfg.channels, "levels": cfg.levels, "dropout": cfg.dropout}
    return (
        ConvEncoder(shape, 2 * z, **kw),  # type: ignore[arg-type]
        ConvDecoder(z, shape, params_per_dim * c, **kw),  # type: ignore[arg-type]
    )


def build_vae(cfg: VAEConfig, meta: DataMeta) -> VAE:
    """The family's builder."""
    for name in ("latent", "hidden", "channels", "nll_samples", "val_samples", "iwae_k"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"model.{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.network not in ("mlp", "conv"):
        raise ConfigError(f"model.network={cfg.network}: use mlp or conv")
    if cfg.network == "conv" and len(meta.shape) != 3:
        raise ConfigError(
            f"model.network=conv needs images (C, H, W), got shape {tuple(meta.shape)}: "
            "use model.network=mlp"
        )
    if cfg.iwae_k > 1 and (cfg.beta != 1.0 or cfg.kl_warmup > 0 or cfg.free_bits > 0):
        raise ConfigError(
            "model.iwae_k > 1 trains the importance-weighted bound, which has no KL term: "
            "drop model.beta, model.kl_warmup and model.free_bits, or use iwae_k=1"
        )
    return VAE(cfg, meta)
