"""The ``vae`` family: a Gaussian encoder q(z | x), a standard normal prior and a decoder
distribution p(x | z) over the data's levels (Kingma & Welling 2014).

Training maximises the ELBO ``E_q[log p(x | z)] - KL(q(z | x) || p(z))`` (analytic KL),
with beta, a linear KL warm-up and free bits as options, or the IWAE bound with k samples
(Burda et al. 2016). ``nll`` is the importance-sampled estimate
``-log 1/K sum_k p(x, z_k) / q(z_k | x)`` in nats of the discrete data (an upper bound
on -log p(x) in expectation, tight as K grows), so bits/dim compare with every family.

Cost: ``nll`` decodes K latents per image, ``_LATENTS_PER_CALL`` at a time and streams
the log-sum-exp over those chunks; on one CPU thread the MLP decoder's two matrix products
(512 x 512 and 512 x 2D) and the discretized logistic's few elementwise passes cost about
the same (benchmarks/vae_nll_cost.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from genlab.config import check_fields, ranged
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.nn import MLP, ConvDecoder, ConvEncoder
from genlab.vae.bounds import (
    elbo,
    gaussian_kl_per_dim,
    log_prior_over_proposal,
    reparameterize,
)
from genlab.vae.likelihoods import Likelihood, make_likelihood

__all__ = ["VAE", "VAEConfig", "VAESampling", "build_vae"]

# decoder rows per call in nll: a (256, 2 * 784) float32 output and the few temporaries of
# the discretized logistic stay in a 2 MiB L2 cache, and the 512-wide products still run
# near the core's peak; 64 and 1024 were slower on one thread (benchmarks/vae_nll_cost.py)
_LATENTS_PER_CALL = 256


@dataclass(frozen=True)
class VAEConfig:
    """Options of the ``vae`` family (``model.KEY=VALUE`` on the command line)."""

    latent: int = ranged(16, lambda v: v >= 1, "at least 1")
    hidden: int = ranged(512, lambda v: v >= 1, "at least 1")
    network: Literal["mlp", "conv"] = "mlp"  # conv: images only (nn/convnet.py)
    # hidden layers of the encoder and of the decoder (mlp)
    depth: int = ranged(2, lambda v: v >= 0, "at least 0")
    # first level's channels (conv)
    channels: int = ranged(32, lambda v: v >= 1, "at least 1")
    # stride-2 levels, channels doubling at each (conv)
    levels: int = ranged(2, lambda v: v >= 0, "at least 0")
    # in encoder and decoder (0.3 on small data: see data_defaults)
    dropout: float = ranged(0.0, lambda v: 0 <= v < 1, "in [0, 1)")
    # discretized logistic: 2 numbers per pixel whose neighbouring levels share mass; on
    # digits it generalises far better than a free categorical (val 1.87 vs 2.04 bits/dim)
    likelihood: Literal["categorical", "discretized_logistic", "bernoulli", "gaussian"] = (
        "discretized_logistic"
    )
    beta: float = ranged(1.0, lambda v: v >= 0, "at least 0")  # the KL term's weight
    # training steps over which the KL weight rises linearly to beta
    kl_warmup: int = ranged(0, lambda v: v >= 0, "at least 0 (0: no warm-up)")
    # nats per latent dimension (minibatch mean)
    free_bits: float = ranged(0.0, lambda v: v >= 0, "at least 0 (0: off)")
    # samples of the training bound (1: the ELBO)
    iwae_k: int = ranged(1, lambda v: v >= 1, "at least 1 (1: the ELBO)")
    # importance samples of nll()
    nll_samples: int = ranged(1000, lambda v: v >= 1, "at least 1")
    # importance samples of the validation score (weight selection)
    val_samples: int = ranged(10, lambda v: v >= 1, "at least 1")

    def __post_init__(self) -> None:
        check_fields(self, "model.")


@dataclass(frozen=True)
class VAESampling:
    """Sampling options of the ``vae`` family (``genlab sample RUN mode=mean``): ``mode``
    ``sample`` draws x ~ p(x | z); ``mean`` takes the decoder's mean rounded to the levels
    (deterministic given z: the blur of the decoder without its noise)."""

    mode: Literal["sample", "mean"] = "sample"

    def __post_init__(self) -> None:
        check_fields(self)


class VAE(nn.Module):
    """Encoder (N, D) -> (mu, logvar) (N, Z); decoder (N, Z) -> params (N, P, *shape)."""

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

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # runs saved before the trainer passed the step to loss() hold the warm-up counter
        # the model kept itself; the step now comes from the trainer's state
        state_dict.pop(f"{prefix}steps_seen", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

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

    def kl_weight(self, step: int | None) -> float:
        """The KL weight at training step ``step`` (0 for the first update): beta times a
        linear ramp over ``kl_warmup`` steps, ``beta (step + 1) / kl_warmup`` until it
        reaches beta; None (outside training) is after the warm-up."""
        warm = self.config.kl_warmup
        ramp = 1.0 if warm <= 0 or step is None else min(1.0, (step + 1) / warm)
        return self.config.beta * ramp

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The negative ELBO (or IWAE bound) in nats/dim; ``step`` sets the KL warm-up."""
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
            t = elbo(log_px_z, kl_dims.sum(1), self.kl_weight(step), cfg.free_bits, per_dim)
            loss = t.loss.mean()
            terms = {
                "elbo_bpd": -t.elbo.mean().detach() / (self.dims * math.log(2.0)),
                "kl": t.kl.mean().detach(),
            }
        return loss / self.dims, terms  # nats/dim: one learning rate for every data size

    def _iwae(
        self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int
    ) -> torch.Tensor:
        """The k-sample importance-weighted bound per example (N,), in nats."""
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype, device=mu.device)
        return torch.logsumexp(self._log_weights(x, mu, logvar, eps), dim=0) - math.log(k)

    def _log_weights(
        self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for z_k = mu + sigma eps_k, (K, N) nats, from data
        (N, *shape), posterior (N, Z) each and noise (K, N, Z); the K N latents are decoded
        in one call and scored against x without copying it (likelihoods.py)."""
        z = mu + torch.exp(0.5 * logvar) * eps  # (K, N, Z)
        params = self.decode(z.reshape(-1, z.shape[-1]))  # (K N, P, *shape)
        log_px_z = self.likelihood.log_prob(x, params.view(*z.shape[:2], *params.shape[1:]))
        return log_px_z + log_prior_over_proposal(z, eps, logvar)

    # ---------------------------------------------------------------- likelihood

    @torch.inference_mode()
    def nll(
        self,
        x: torch.Tensor,
        samples: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """-log p(x) ~ -log 1/K sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x), (N,) nats
        (Burda et al. 2016, eq. 8), with K = ``samples`` (default ``nll_samples``).

        Images go through in groups of ``_LATENTS_PER_CALL // K`` (at least one), their
        samples in chunks of at most ``_LATENTS_PER_CALL``; each chunk's log-sum-exp is
        kept and combined at the end, so memory is one chunk's whatever K is."""
        k = samples or self.config.nll_samples
        mu, logvar = self.encode(x)
        group, chunk = max(1, _LATENTS_PER_CALL // k), min(k, _LATENTS_PER_CALL)
        out = []
        for i in range(0, len(x), group):
            xs, ms, lvs = x[i : i + group], mu[i : i + group], logvar[i : i + group]
            lse = []
            for start in range(0, k, chunk):
                shape = (min(chunk, k - start), *ms.shape)
                eps = torch.randn(shape, generator=generator, dtype=ms.dtype, device=ms.device)
                lse.append(torch.logsumexp(self._log_weights(xs, ms, lvs, eps), dim=0))
            out.append(math.log(k) - torch.logsumexp(torch.stack(lse), dim=0))
        return torch.cat(out)

    def validation_nll(self, x: torch.Tensor) -> torch.Tensor:
        """The trainer's selection score: ``nll`` with ``val_samples`` draws, (N,) nats.

        An upper bound looser than a large K by roughly the same amount at every step.
        ``val_samples`` = 10 was chosen on cost: on the validation images K = 1, 10 and
        100 rank the recorded checkpoints alike (benchmarks/vae_nll_cost.py,
        benchmarks/results/vae_nll_cost.json, agreement.*.validation), and 10 is tighter
        than 1 for under 5% of training time."""
        return self.nll(x, self.config.val_samples)

    def nll_estimator(self) -> dict[str, object]:
        """What ``nll`` computes, JSON-able, for evaluation to write beside its number."""
        return {
            "estimator": "importance sampling",
            "K": self.config.nll_samples,
            "proposal": "q(z|x)",
            "prior": "N(0, I)",
            "bound": "upper bound on -log p(x) in expectation, tight as K grows",
            "units": "nats per example",
        }

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
            raise GenlabError(f"mode={mode}: use sample or mean")
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
