"""The ``flow`` family: exact likelihood by change of variables, with dequantization.

For discrete data k in {0..L-1}^D (Dinh et al. 2017; Ho et al. 2019):

    y = (k + u) / L,  u ~ q(u | k)                     (dequantization.py)
    z0 = logit(alpha + (1 - 2 alpha) y)                 (Logit, exact log-det)
    z = f(z0),  z ~ N(0, I)                             (the preset flow)
    -log P(k) <= E_q[-log N(f(z0)) - log|det df| - log|det dz0/dy| + log q(u|k)] + D log L

``nll`` returns that bound in nats per example (one draw of u), so bits/dim compares
with every other family. Continuous data (toy 2-D sets) skip dequantization and the
logit: -log p(x) = -log N(f(x)) - log|det df|, a density, not a probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genlab.config import check_fields, ranged
from genlab.data.dataset import DataMeta
from genlab.data.scaling import from_unit, to_index
from genlab.errors import ConfigError
from genlab.flows.architectures import build_flow, conv_conditioner, mlp_conditioner
from genlab.flows.dequantization import (
    NoDequantization,
    UniformDequantization,
    VariationalDequantization,
    standard_normal_logprob,
)
from genlab.flows.transforms import (
    ActNorm,
    AffineCoupling,
    Compose,
    Logit,
    Transform,
    alternating_mask,
    checkerboard_mask,
    conditioner_sizes,
)
from genlab.nn import MLP, ConvResNet

__all__ = ["FlowConfig", "FlowModel", "FlowSampling"]


@dataclass(frozen=True)
class FlowConfig:
    """Options of the ``flow`` family (``model.KEY=VALUE`` on the command line)."""

    preset: Literal["realnvp", "glow", "nsf"] = "realnvp"
    dequantization: Literal["none", "uniform", "variational"] = "uniform"
    conditioner: Literal["auto", "mlp", "conv"] = "auto"  # realnvp and nsf on images; auto: mlp
    # when an image has <= 256 values (digits: a conv net on 8x8 costs 20x an MLP), else
    # conv (multi-scale, see architectures.py)
    permute: bool = True  # realnvp with MLPs: half masks after random permutations
    # (else checkerboard masks); permutations pair every pixel with others each layer
    # couplings per level of a multi-scale flow (glow; realnvp and nsf on images of > 256
    # values); pairs of couplings on vectors and flattened small images
    steps: int = ranged(4, lambda v: v >= 1, "at least 1")
    # multi-scale levels (each squeezes and factors out half; 28x28 has 2)
    scales: int = ranged(2, lambda v: v >= 1, "at least 1")
    hidden: int = ranged(256, lambda v: v >= 1, "at least 1")  # MLP conditioner units
    channels: int = ranged(64, lambda v: v >= 1, "at least 1")  # conv conditioner channels
    # residual blocks (conv) or hidden layers (MLP) per conditioner
    blocks: int = ranged(2, lambda v: v >= 0, "at least 0")
    norm: Literal["group", "none"] = "group"  # in conv conditioners (GroupNorm: per example)
    # realnvp's checkerboard couplings on maps of even sides: the conditioner reads the
    # kept half gathered into a half-width map (half the arithmetic, 1.13x faster steps
    # at 28x28) or the masked full map, which on Fashion-MNIST is 0.03 bits/dim better
    # at equal CPU time (benchmarks/results/flow_defaults_fashion.json)
    checker: Literal["gather", "mask"] = "mask"
    # in every conditioner (0.4 on small data: see data_defaults)
    dropout: float = ranged(0.0, lambda v: 0 <= v < 1, "in [0, 1)")
    # affine log-scale bound, s = B tanh(raw / B)
    scale_bound: float = ranged(2.0, lambda v: v > 0, "positive")
    # logit margin: mass outside logit(alpha)..logit(1-alpha) is lost (0.05, RealNVP's
    # value, costs ~0.05 bits/dim on digits' 17 levels; 0.001 too)
    alpha: float = ranged(0.01, lambda v: 0 <= v < 0.5, "in [0, 0.5)")
    bins: int = ranged(8, lambda v: v >= 1, "at least 1")  # nsf spline bins
    tail_bound: float = ranged(4.0, lambda v: v > 0, "positive")  # nsf spline interval [-B, B]
    # couplings and width of the variational dequantizer's networks
    deq_steps: int = ranged(4, lambda v: v >= 1, "at least 1")
    deq_hidden: int = ranged(32, lambda v: v >= 1, "at least 1")
    # dequantization draws per image in nll(): 1 is the dequantization bound of one draw;
    # K > 1 the importance-weighted bound -log mean_k w_k, tighter as K grows (Burda et al.
    # 2016, Theorem 1; Ho et al. 2019, Flow++ eq. 12)
    nll_draws: int = ranged(1, lambda v: v >= 1, "at least 1")

    def __post_init__(self) -> None:
        check_fields(self, "model.")


@dataclass(frozen=True)
class FlowSampling:
    """Sampling options of the ``flow`` family (``genlab sample RUN temperature=0.7``):
    ``temperature`` scales the base noise, z ~ N(0, T^2 I) (Kingma & Dhariwal 2018, Glow,
    sec. 5); below 1 it trades diversity for typical samples, 0 gives the flow's image of
    z = 0 for every sample."""

    temperature: float = ranged(1.0, lambda v: v >= 0, "at least 0 (1: the model itself)")

    def __post_init__(self) -> None:
        check_fields(self)


class FlowModel(nn.Module):
    """A preset flow with its dequantizer; data in, data out (see module docstring)."""

    def __init__(self, config: FlowConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.shape = tuple(meta.shape)
        try:
            self.flow = build_flow(config.preset, self.shape, config)
        except ValueError as err:
            raise ConfigError(f"model.preset={config.preset}: {err}") from None
        self.discrete = meta.levels is not None
        if self.discrete:
            self.logit = Logit(config.alpha)
            self.dequantizer = self._dequantizer(config, meta)
        elif config.dequantization != "uniform" and config.dequantization != "none":
            raise ConfigError(f"{meta.name} is continuous: dequantization does not apply")

    def _dequantizer(self, cfg: FlowConfig, meta: DataMeta) -> nn.Module:
        levels = int(meta.levels or 0)
        if cfg.dequantization == "none":
            return NoDequantization(levels)
        if cfg.dequantization == "uniform":
            return UniformDequantization(levels)
        return VariationalDequantization(levels, *self._deq_flow(cfg, meta))

    @staticmethod
    def _deq_flow(cfg: FlowConfig, meta: DataMeta) -> tuple[Transform, nn.Module]:
        small = FlowConfig(hidden=cfg.deq_hidden, channels=cfg.deq_hidden, blocks=1, dropout=0.0)
        ctx = cfg.deq_hidden
        layers: list[Transform] = []
        if meta.is_image:
            c, h, w = meta.shape
            cond = conv_conditioner(small, context_channels=ctx)
            context_net: nn.Module = ConvResNet(c, ctx, hidden=ctx, blocks=1, zero_init_last=False)
            for i in range(cfg.deq_steps):
                mask = checkerboard_mask(c, h, w, parity=i % 2)
                layers += [ActNorm(c), AffineCoupling(mask, cond(c, 2 * c))]
        else:
            d = meta.dims
            cond = mlp_conditioner(small, context_features=ctx)
            context_net = MLP(d, ctx, hidden=ctx, depth=1, zero_init_last=False)
            for i in range(cfg.deq_steps):
                mask = alternating_mask(d, i % 2)
                layers += [ActNorm(d), AffineCoupling(mask, cond(*conditioner_sizes(mask, 2)))]
        return Compose(*layers), context_net

    # ---------------------------------------------------------------- likelihood

    def _to_model_space(
        self, x: torch.Tensor, dequantizer: nn.Module | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> (z0, logdet of data -> z0 minus log q, minus D log L), per example;
        ``dequantizer`` (default: the model's own) draws y in the bins."""
        if not self.discrete:
            return x.float(), x.new_zeros(x.shape[0], dtype=torch.float32)
        levels = int(self.meta.levels or 0)
        y, log_q = (dequantizer or self.dequantizer)(to_index(x, levels))
        z0, logdet = self.logit(y)
        return z0, logdet - log_q - self.meta.dims * math.log(levels)

    def log_terms(
        self, x: torch.Tensor, dequantizer: nn.Module | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-example terms (N,) whose sum is the log-likelihood bound."""
        z0, pre = self._to_model_space(x, dequantizer)
        z, logdet = self.flow(z0)
        return {"log_pz": standard_normal_logprob(z), "logdet": logdet, "pre": pre}

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Upper bound (in expectation) on -log P(x) of the discrete data, nats (N,).

        ``-log mean_k w_k`` over ``model.nll_draws`` draws of the dequantization noise,
        ``w = p(y) / q(y | k)`` with ``y`` in the bin of ``k`` (K = 1: the dequantization
        bound). A model trained without dequantization is scored with uniform noise: its
        density at the bin centres is not a probability (see :meth:`density_nll`).
        Continuous data: -log p(x), a density."""
        if not self.discrete:
            return self.density_nll(x)
        draws = [self._bound_draw(x) for _ in range(self.config.nll_draws)]
        stacked = torch.stack(draws)  # (K, N) of -log w
        return -(torch.logsumexp(-stacked, dim=0) - math.log(len(draws)))

    def _bound_draw(self, x: torch.Tensor) -> torch.Tensor:
        """One draw of ``-log w`` (N,), uniform noise for a model trained without any."""
        uniform = None
        if self.config.dequantization == "none":
            uniform = UniformDequantization(int(self.meta.levels or 0))
        t = self.log_terms(x, uniform)
        return -(t["log_pz"] + t["logdet"] + t["pre"])

    def density_nll(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective's per-example value (N,), nats: one draw of the
        dequantized bound, or, with ``dequantization=none``, ``-log p((k + 1/2) / L) + D
        log L``, a density at the bin centres, which is not a probability and can fall
        without bound (the dequantization study shows it)."""
        t = self.log_terms(x)
        return -(t["log_pz"] + t["logdet"] + t["pre"])

    def nll_estimator(self) -> dict[str, object]:
        """What ``nll`` computes, JSON-able, for evaluation to write beside its number."""
        if not self.discrete:
            return {"estimator": "exact density (continuous data)", "units": "nats per example"}
        trained = self.config.dequantization
        noise = "uniform" if trained == "none" else trained
        k = self.config.nll_draws
        return {
            "estimator": "dequantization bound" if k == 1 else "importance-weighted bound",
            "dequantizer": noise,
            "K": k,
            "trained_with": f"{trained} dequantization",
            "bound": "upper bound on -log P(x) of the discrete data in expectation, "
            "tighter as K grows",
            "units": "nats per example",
        }

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The dequantized negative log-likelihood in nats/dim; ``step`` is not used."""
        t = self.log_terms(x)
        nll = -(t["log_pz"] + t["logdet"] + t["pre"]).mean()
        per_dim = nll / self.meta.dims  # nats/dim: one learning rate for every data size
        terms = {
            "bpd": per_dim.detach() / math.log(2.0),
            "log_pz": t["log_pz"].mean().detach() / self.meta.dims,
            "logdet": t["logdet"].mean().detach() / self.meta.dims,
        }
        return per_dim, terms

    # ---------------------------------------------------------------- sampling

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``n`` samples in data space: integers (n, C, H, W) or floats (n, D), from base
        noise scaled by ``temperature`` (see :class:`FlowSampling`)."""
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        z = torch.randn((n, *self.shape), generator=generator, device=gen_device).to(device)
        z0, _ = self.flow.inverse(z * temperature)
        if not self.discrete:
            return z0
        u, _ = self.logit.inverse(z0)
        return from_unit(u, int(self.meta.levels or 0))

    def prepare(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Data-dependent ActNorm initialisation on up to 512 training examples, once,
        before any DDP wrapping (so every rank starts from the same weights)."""
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(x), generator=g)[:512].to(x.device)
        was_training = self.training
        self.train()
        with torch.no_grad():
            self.log_terms(x[idx])
        self.train(was_training)
