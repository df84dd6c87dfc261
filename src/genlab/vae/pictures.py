"""Pictures of a trained VAE, as data-space image batches and PNG files: reconstructions,
prior samples (decoder mean and decoder sample), interpolations between two test images
in latent space, and traversals of single latent dimensions (Kingma & Welling 2014,
fig. 4; Higgins et al. 2017).

The functions read a VAE through :class:`LatentModel` (what they use of
:class:`genlab.vae.model.VAE`), so this module does not import the model that calls it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from genlab.data.dataset import DataMeta
from genlab.vae.likelihoods import Likelihood
from genlab.viz import save_samples

__all__ = ["LatentModel", "interpolations", "reconstructions", "traversals", "write_pictures"]


class LatentModel(Protocol):
    """What the pictures use of a VAE: data levels (None: continuous), the decoder
    distribution, and encode / decode / reconstruct / sample in data space."""

    levels: int | None
    likelihood: Likelihood

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data (N, ...) -> posterior mean and log-variance, each (N, Z)."""
        ...

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, Z) -> decoder parameters (N, P, ...)."""
        ...

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the posterior mean, in data space (N, ...)."""
        ...

    def sample(self, n: int, **options: Any) -> torch.Tensor:
        """``n`` samples in data space (``generator=``, ``mode="sample"|"mean"``)."""
        ...


def _levels(model: LatentModel, m: torch.Tensor) -> torch.Tensor:
    levels = model.levels
    return m if levels is None else m.round().clamp(0, levels - 1).long()


@torch.no_grad()
def reconstructions(model: LatentModel, x: torch.Tensor) -> torch.Tensor:
    """(2N, ...): each image followed by its reconstruction (decoder mean at the
    posterior mean)."""
    r = model.reconstruct(x)
    return torch.stack([x.to(r.dtype), r], dim=1).flatten(0, 1)


@torch.no_grad()
def interpolations(
    model: LatentModel, a: torch.Tensor, b: torch.Tensor, steps: int = 8
) -> torch.Tensor:
    """(P * steps, ...): for each pair (a_i, b_i) of images (P, ...), the decoder means
    along the straight line between their posterior means."""
    mu_a, _ = model.encode(a)
    mu_b, _ = model.encode(b)
    w = torch.linspace(0, 1, steps, dtype=mu_a.dtype, device=mu_a.device)[None, :, None]
    z = mu_a[:, None] + w * (mu_b - mu_a)[:, None]  # (P, steps, Z)
    m = model.likelihood.mean(model.decode(z.reshape(-1, z.shape[-1])))
    return _levels(model, m)


@torch.no_grad()
def traversals(
    model: LatentModel, x: torch.Tensor, dims: int = 8, span: float = 2.5
) -> torch.Tensor:
    """(dims * 9, ...): from the posterior mean of one image ``x`` (1, ...), each of the
    first ``dims`` latent dimensions set to 9 values in [-span, span] (prior std units)."""
    mu, _ = model.encode(x)
    dims = min(dims, mu.shape[1])
    values = torch.linspace(-span, span, 9, dtype=mu.dtype, device=mu.device)
    z = mu.repeat(dims * 9, 1)
    for d in range(dims):
        z[d * 9 : (d + 1) * 9, d] = values
    return _levels(model, model.likelihood.mean(model.decode(z)))


def write_pictures(
    model: LatentModel, test_x: torch.Tensor, meta: DataMeta, out: Path
) -> list[Path]:
    """Write the five pictures as PNGs into ``out``; returns their paths."""
    g = torch.Generator().manual_seed(0)
    x = test_x[:32]
    pics = {
        "reconstructions.png": reconstructions(model, x),
        "prior_samples.png": model.sample(64, generator=g),
        "prior_means.png": model.sample(64, generator=g, mode="mean"),
        "interpolations.png": interpolations(model, x[:8], x[8:16]),
        "traversals.png": traversals(model, x[:1]),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, images in pics.items():
        save_samples(images.cpu(), meta, out / name)
        paths.append(out / name)
    return paths
