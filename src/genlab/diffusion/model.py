"""The ``diffusion`` family: a denoising network, a noise schedule and a sampler, apart.

Data k in {0..L-1}^D live in model space as x_0 = -1 + 2k / (L - 1) in [-1, 1]
(data/scaling.py). Training (Ho et al. 2020, Alg. 1): t ~ U{1..T}, eps ~ N(0, I),
x_t = alpha_t x_0 + sigma_t eps, and the network regresses eps, x_0 or v
(parameterization.py) with the simple unweighted MSE, or min-SNR-gamma weights
(Hang et al. 2023). Sampling runs one of ``samplers.SAMPLERS`` over a timestep grid with
the network wrapped as an x_0 denoiser. ``nll`` is the variational bound on the discrete
data (Ho et al. 2020, eq. 5), in nats per example:

    -log p(x_0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0
    L_T     = KL(q(x_T | x_0) || N(0, I))                        (prior term)
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))      (denoising terms)
    L_0     = -log p(x_0 | x_1)     (a Gaussian integrated over the data's bins, eq. 13)

with the sum over t estimated by importance sampling of timesteps per image (bound.py).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from genlab.data.dataset import DataMeta
from genlab.data.scaling import from_centered, to_centered
from genlab.diffusion.config import DiffusionConfig
from genlab.diffusion.flow_teacher import LinearFlowView
from genlab.diffusion.likelihood import VariationalBound
from genlab.diffusion.parameterization import min_snr_weight, target, x0_from
from genlab.diffusion.samplers import (
    DEFAULT_SPACING,
    SAMPLERS,
    SampleOutput,
    Spacing,
    timestep_grid,
)
from genlab.diffusion.schedule import NoiseSchedule
from genlab.errors import ConfigError, GenlabError
from genlab.nn import distributions as vlb
from genlab.nn.guidance import drop_labels, guide, labels_for
from genlab.nn.unet import UNet

__all__ = ["DiffusionConfig", "DiffusionModel", "build_diffusion"]


class DiffusionModel(VariationalBound, nn.Module):
    """``DiffusionModel(network, schedule, prediction=...)``: see the module docstring.

    ``network(x_t (N, C, H, W), t (N,) float, y (N,) long | None) -> (N, C, H, W)``."""

    def __init__(
        self,
        network: nn.Module,
        schedule: NoiseSchedule,
        meta: DataMeta,
        *,
        prediction: Literal["eps", "x0", "v"] = "v",
        config: DiffusionConfig | None = None,
    ) -> None:
        super().__init__()
        self.network, self.schedule, self.meta = network, schedule, meta
        self.config = config or DiffusionConfig(prediction=prediction)
        if config is not None and config.prediction != prediction:
            raise ConfigError(
                f"prediction={prediction!r} disagrees with config.prediction="
                f"{config.prediction!r}; give one"
            )
        self.prediction = self.config.prediction
        self.levels = meta.levels
        self.num_classes = int(meta.num_classes or 0) if self.config.conditional else 0

    # ---------------------------------------------------------------- network as denoiser

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data (N, C, H, W) -> x_0 in [-1, 1], in the network's dtype."""
        dtype = next(self.network.parameters()).dtype
        return to_centered(x, self.levels, dtype)

    def _coefficients(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        shape = (-1,) + (1,) * (like.dim() - 1)
        alpha = self.schedule.alpha(t).to(like.dtype).view(shape)
        sigma = self.schedule.sigma(t).to(like.dtype).view(shape)
        return alpha, sigma

    def predict_x0(
        self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x_0 estimate (N, ...) from x_t (N, ...) at integer timesteps t (N,)."""
        alpha, sigma = self._coefficients(t, x_t)
        out = self.network(x_t, t.to(x_t.dtype), y)
        return x0_from(self.prediction, out, x_t, alpha, sigma)

    def denoiser(
        self, y: torch.Tensor | None = None, guidance: float = 1.0, clip: bool = True
    ) -> Any:
        """The callable ``(x_t, t) -> x0`` that samplers take: labels ``y`` (N,) with
        classifier-free guidance ``guidance``, and x_0 clipped to [-1, 1] if ``clip``."""
        null = self.num_classes

        def fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if y is None or guidance == 1.0:
                x0 = self.predict_x0(x_t, t, y if y is not None else self._null(x_t, null))
            else:  # one batched call for the conditional and unconditional predictions
                both = self.predict_x0(
                    torch.cat([x_t, x_t]),
                    torch.cat([t, t]),
                    torch.cat([y, torch.full_like(y, null)]),
                )
                cond, uncond = both.chunk(2)
                x0 = guide(cond, uncond, guidance)
            return x0.clamp(-1.0, 1.0) if clip else x0

        return fn

    def linear_flow(self) -> Any:
        """This model as a flow-matching teacher on the linear path (``flow_teacher``):
        what ``genlab distill RUN --method consistency`` learns from."""
        return LinearFlowView(self)

    def _null(self, x: torch.Tensor, null: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return torch.full((x.shape[0],), null, dtype=torch.long, device=x.device)

    # ---------------------------------------------------------------- training

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The denoising loss of a random timestep per image; ``step`` is not used."""
        x0 = self._to_model(x)
        n = x0.shape[0]
        t = torch.randint(1, self.schedule.T + 1, (n,), device=x0.device)
        eps = torch.randn_like(x0)
        alpha, sigma = self._coefficients(t, x0)
        x_t = alpha * x0 + sigma * eps
        labels = None
        if self.num_classes:
            if y is None:
                raise GenlabError("this diffusion model is class-conditional: it needs labels")
            labels = drop_labels(y.long(), self.config.p_uncond, self.num_classes)
        out = self.network(x_t, t.to(x0.dtype), labels)
        mse = vlb.sum_per_example((out - target(self.prediction, x0, eps, alpha, sigma)) ** 2)
        mse = mse / x0[0].numel()
        if self.config.min_snr > 0:
            w = min_snr_weight(self.prediction, self.schedule.snr(t), self.config.min_snr)
            loss = (w.to(mse.dtype) * mse).mean()
        else:
            loss = mse.mean()
        return loss, {"mse": mse.mean().detach()}

    # ---------------------------------------------------------------- sampling

    def generate(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        eta: float | None = None,
        spacing: Spacing | None = None,
        keep_steps: bool = False,
    ) -> SampleOutput:
        """Samples in model space ([-1, 1]) with the sampler's output record; options as
        in :class:`~genlab.diffusion.sampling.DiffusionSampling` (None: the model's)."""
        cfg = self.config
        name = sampler or cfg.sampler
        if name not in SAMPLERS:
            raise GenlabError(
                f"sampler={name!r} is an unknown sampler; choose one of {', '.join(SAMPLERS)}"
            )
        k = steps or (1 if name == "oneshot" else cfg.sample_steps)
        if k > self.schedule.T:
            raise GenlabError(
                f"steps={k} exceeds the model's {self.schedule.T} timesteps (model.timesteps)"
            )
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        shape = (n, *self.meta.shape)
        dtype = next(self.network.parameters()).dtype
        x_T = torch.randn(shape, generator=generator, device=gen_device).to(device, dtype)
        if y is not None:
            y = y.to(device).long()
            if not self.num_classes:
                raise GenlabError("labels given, but the model was not trained with labels")
        grid = timestep_grid(
            self.schedule.T, k, spacing or DEFAULT_SPACING[name], self.schedule
        ).to(device)
        options: dict[str, Any] = {}
        if eta is not None:
            if name != "ddim":
                raise GenlabError(f"eta applies to sampler=ddim only, not sampler={name}")
            options["eta"] = eta
        fn = self.denoiser(y, cfg.guidance if guidance is None else guidance, cfg.clip)
        return SAMPLERS[name](
            fn, self.schedule, x_T, grid, generator=generator, keep_steps=keep_steps, **options
        )

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        spacing: Spacing | None = None,
        guidance: float | None = None,
        label: int | None = None,
    ) -> torch.Tensor:
        """``n`` samples in data space (n, C, H, W), integer levels; ``label`` gives every
        sample that class (``y`` gives one per sample). The options are the fields of
        :class:`~genlab.diffusion.sampling.DiffusionSampling`."""
        if label is not None:
            y = labels_for(n, label, self.num_classes)
        out = self.generate(
            n,
            y=y,
            generator=generator,
            sampler=sampler,
            steps=steps,
            guidance=guidance,
            eta=eta,
            spacing=spacing,
        )
        return from_centered(out.sample, self.levels)


def build_diffusion(cfg: DiffusionConfig, meta: DataMeta) -> DiffusionModel:
    """The family's builder: a U-Net for images, the schedule, the model."""
    if not meta.is_image or meta.levels is None:
        raise ConfigError(f"the diffusion family needs discrete images; {meta.name} is not")
    if cfg.conditional and not meta.num_classes:
        raise ConfigError(f"model.conditional=true needs labels; {meta.name} has none")
    c = meta.shape[0]
    levels = len(cfg.multipliers)
    if any(a >= levels for a in cfg.attention):
        raise ConfigError(f"model.attention levels must be in 0..{levels - 1}, got {cfg.attention}")
    network = UNet(
        c,
        c,
        channels=cfg.channels,
        multipliers=cfg.multipliers,
        blocks=cfg.blocks,
        attention=cfg.attention,
        dropout=cfg.dropout,
        num_classes=int(meta.num_classes or 0) if cfg.conditional else 0,
    )
    schedule = NoiseSchedule(cfg.schedule, cfg.timesteps)
    return DiffusionModel(network, schedule, meta, prediction=cfg.prediction, config=cfg)
