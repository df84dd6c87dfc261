"""The ``flowmatch`` family: a U-Net regressing the velocity of an affine probability path
(flow matching, Lipman et al. 2023; rectified flow, Liu et al. 2022), sampled by solving
its ODE from noise (t = 1) to data (t = 0) and scored through the same ODE.

Data k in {0..L-1}^D live in model space as x_0 = -1 + 2k / (L - 1) in [-1, 1]
(data/scaling.py). Training (Lipman et al. 2023, eq. 23 for the linear path): t from
``model.time_sampling``, eps ~ N(0, I), x_t = alpha_t x_0 + sigma_t eps (``ode.paths``),
and the network regresses the conditional velocity alpha'_t x_0 + sigma'_t eps with the
mean squared error; its minimiser is the marginal velocity, whose ODE carries N(0, I) at
t = 1 to the data at t = 0. The network sees the time as 1000 t (the U-Net's embedding
was built for [0, 1000]). ``nll`` is the dequantized bound through that ODE
(``ode.likelihood``): an upper bound on -log P of the discrete images, as every family's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genlab.data.dataset import DataMeta
from genlab.data.scaling import from_centered, to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.flowmatch.config import FlowMatchConfig
from genlab.nn.distill import TeacherRef, copy_network
from genlab.nn.guidance import drop_labels, guide, labels_for
from genlab.nn.velocity import TIME_SCALE, velocity_network
from genlab.ode import exponential
from genlab.ode.likelihood import dequantized_nll, log_density
from genlab.ode.paths import AffinePath, as_column, x0_from_velocity
from genlab.ode.solvers import EVALS_PER_STEP, solve, steps_for_nfe, uniform_times

__all__ = ["TIME_SCALE", "FlowMatchModel", "build_flowmatch"]


class FlowMatchModel(nn.Module):
    """``FlowMatchModel(network, meta, config)``: see the module docstring.

    ``network(x_t (N, C, H, W), 1000 t (N,) float, y (N,) long | None) -> v (N, C, H, W)``."""

    def __init__(self, network: nn.Module, meta: DataMeta, config: FlowMatchConfig) -> None:
        super().__init__()
        self.network, self.meta, self.config = network, meta, config
        self.path = AffinePath(config.path)
        self.levels = meta.levels
        self.num_classes = int(meta.num_classes or 0) if config.conditional else 0
        self.last_nll_nfe = 0  # NFE of the latest nll() solve, for the estimator statement
        self._teacher = TeacherRef()  # reflow: the teacher run's model, while distilling

    # ---------------------------------------------------------------- reflow

    @property
    def teacher_run(self) -> str:
        """The flow-matching run this model is distilled from (reflow), "" for none."""
        return self.config.teacher

    def attach_teacher(self, teacher: nn.Module, *, initialise: bool) -> None:
        """Learn from ``teacher`` (a trained FlowMatchModel); ``initialise``: start from its
        weights (a new run; a resumed one keeps its own)."""
        if not isinstance(teacher, FlowMatchModel):
            raise ConfigError(
                f"model.teacher={self.config.teacher}: reflow needs a flowmatch teacher, "
                f"got {type(teacher).__name__}"
            )
        if self.num_classes:
            raise ConfigError("reflow students are unconditional: set model.conditional=false")
        if initialise:
            copy_network(self.network, teacher.network, self.config.teacher)
        self._teacher.set(teacher)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return to_centered(x, self.levels, next(self.network.parameters()).dtype)

    def _labels(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if y is None:  # the "no label" token
            return torch.full((len(x),), self.num_classes, dtype=torch.long, device=x.device)
        return y

    def velocity(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """v(x, t) (N, ...) at float times t (N,) in [0, 1]; y None: unconditional."""
        return self.network(x, TIME_SCALE * t.to(x.dtype), self._labels(x, y))

    def field(self, y: torch.Tensor | None = None, guidance: float = 1.0) -> Any:
        """The ODE's vector field ``(x, t) -> v`` with labels ``y`` and classifier-free
        guidance ``guidance`` (one batched call for both predictions: one NFE)."""

        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if y is None or guidance == 1.0:
                return self.velocity(x, t, y)
            null = torch.full_like(y, self.num_classes)
            both = self.network(
                torch.cat([x, x]), TIME_SCALE * torch.cat([t, t]).to(x.dtype), torch.cat([y, null])
            )
            cond, uncond = both.chunk(2)
            return guide(cond, uncond, guidance)

        return fn

    # ---------------------------------------------------------------- training

    def sample_times(self, n: int, device: torch.device) -> torch.Tensor:
        """(n,) training times in (0, 1): uniform or logit-normal."""
        if self.config.time_sampling == "uniform":
            return torch.rand(n, device=device)
        z = self.config.logit_mean + self.config.logit_std * torch.randn(n, device=device)
        return torch.sigmoid(z)

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The flow-matching MSE of one random time per image, per dimension; ``step`` is
        not used."""
        cfg = self.config
        dtype = next(self.network.parameters()).dtype
        t = self.sample_times(len(x), x.device)
        eps = torch.randn((len(x), *self.meta.shape), dtype=dtype, device=x.device)
        if cfg.teacher:  # reflow: the teacher's coupling replaces the data's (x: its size)
            teacher = self._teacher.get(cfg.teacher, x.device)
            with torch.no_grad():
                x0, _, _ = teacher.transport(eps, solver=cfg.teacher_solver, nfe=cfg.teacher_nfe)
            y = None
        else:
            x0 = self._to_model(x)
        k = self.path.at(t)
        x_t = as_column(k.alpha, x0) * x0 + as_column(k.sigma, x0) * eps
        target = as_column(k.d_alpha, x0) * x0 + as_column(k.d_sigma, x0) * eps
        labels = None
        if self.num_classes:
            if y is None:
                raise GenlabError("this flow-matching model is class-conditional: it needs labels")
            labels = drop_labels(y.long(), self.config.p_uncond, self.num_classes)
        out = self.network(x_t, TIME_SCALE * t.to(x0.dtype), labels)
        mse = ((out - target) ** 2).flatten(1).mean(1)
        return mse.mean(), {"mse": mse.mean().detach()}

    # ---------------------------------------------------------------- sampling

    def generate(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        solver: str | None = None,
        nfe: int | None = None,
        tolerance: float | None = None,
        guidance: float | None = None,
        keep_steps: bool = False,
    ) -> tuple[torch.Tensor, int, list[torch.Tensor]]:
        """Samples (n, ...) in model space, the NFE spent and (when kept) x at every grid
        point from the prior on; options as in ``FlowMatchSampling`` (None: the model's)."""
        device = next(self.parameters()).device
        dtype = next(self.network.parameters()).dtype
        gen_device = generator.device if generator is not None else device
        x1 = torch.randn((n, *self.meta.shape), generator=generator, device=gen_device)
        return self.transport(
            x1.to(device, dtype),
            y=y,
            solver=solver,
            nfe=nfe,
            tolerance=tolerance,
            guidance=guidance,
            keep_steps=keep_steps,
        )

    def transport(
        self,
        x1: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        solver: str | None = None,
        nfe: int | None = None,
        tolerance: float | None = None,
        guidance: float | None = None,
        keep_steps: bool = False,
    ) -> tuple[torch.Tensor, int, list[torch.Tensor]]:
        """The ODE's map from the given noise ``x1`` (n, ...) at t = 1 to t = 0 in model
        space, the NFE spent and the kept steps: :meth:`generate` after its noise draw
        (what a distilled student learns to reproduce)."""
        cfg = self.config
        name, k = solver or cfg.solver, nfe or cfg.nfe
        device = x1.device
        if y is not None:
            if not self.num_classes:
                raise GenlabError("labels given, but the model was not trained with labels")
            y = y.to(device).long()
        fn = self.field(y, cfg.guidance if guidance is None else guidance)
        if name in ("ddim", "dpmpp"):
            x, steps = self._exponential(name, fn, x1, k, keep_steps)
            used = k
        else:
            try:
                grid = uniform_times(1 if name == "dopri5" else steps_for_nfe(name, k))
            except (KeyError, ValueError) as e:
                raise GenlabError(str(e).strip("'\"")) from None
            tol = tolerance or cfg.tolerance
            out = solve(fn, x1, grid, method=name, rtol=tol, atol=tol, keep_steps=keep_steps)
            x, steps, used = out.x, out.steps, out.nfe
        return (x.clamp(-1, 1) if cfg.clip else x), used, steps

    def _exponential(
        self, name: str, fn: Any, x1: torch.Tensor, nfe: int, keep_steps: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        times = uniform_times(nfe)
        k = self.path.at(times)

        def x0_at(x: torch.Tensor, i: int) -> torch.Tensor:
            t = times[i].to(x.dtype).expand(len(x))
            x0 = x0_from_velocity(x, fn(x, t), self.path.at(times[i]))
            return x0.clamp(-1, 1) if self.config.clip else x0

        step = exponential.ddim if name == "ddim" else exponential.dpmpp_2m
        return step(x0_at, k.alpha, k.sigma, x1, keep_steps=keep_steps)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        solver: str | None = None,
        nfe: int | None = None,
        tolerance: float | None = None,
        guidance: float | None = None,
        label: int | None = None,
    ) -> torch.Tensor:
        """``n`` samples in data space (n, C, H, W), integer levels; ``label`` gives every
        sample that class. The options are the fields of ``FlowMatchSampling``."""
        if label is not None:
            y = labels_for(n, label, self.num_classes)
        x, _, _ = self.generate(
            n,
            y=y,
            generator=generator,
            solver=solver,
            nfe=nfe,
            tolerance=tolerance,
            guidance=guidance,
        )
        return from_centered(x, self.levels)

    # ---------------------------------------------------------------- likelihood

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) nats: the ``nll_draws``-draw dequantized bound on -log P(x) through the
        ODE (``ode.likelihood.dequantized_nll``), unconditional; on continuous data the
        density itself, -log p(x) (``ode.likelihood.log_density``)."""
        cfg = self.config
        options = {
            "t_min": cfg.nll_t_min,
            "method": cfg.nll_solver,
            "steps": cfg.nll_steps,
            "spacing": cfg.nll_spacing,
            "rtol": cfg.nll_tolerance,
            "atol": cfg.nll_tolerance,
            "divergence": cfg.nll_divergence,
            "probes": cfg.nll_probes,
        }
        if self.levels is None:  # continuous data: the density itself
            dens = log_density(self.field(None), self._to_model(x), **options)  # type: ignore[arg-type]
            self.last_nll_nfe = dens.nfe
            return (-dens.log_p).to(x.device)
        width = 2.0 / (int(self.levels) - 1)
        nll, self.last_nll_nfe = dequantized_nll(
            self.field(None),
            self._to_model(x),
            width,
            draws=cfg.nll_draws,
            **options,  # type: ignore[arg-type]
        )
        return nll.to(x.device)

    def nll_estimator(self) -> dict[str, object]:
        """What ``nll`` computes, JSON-able, for evaluation to write beside its number."""
        cfg = self.config
        grid: dict[str, object] = (
            {"tolerance": cfg.nll_tolerance}
            if cfg.nll_solver == "dopri5"
            else {
                "steps": cfg.nll_steps,
                "spacing": cfg.nll_spacing,
                "nfe": cfg.nll_steps * EVALS_PER_STEP[cfg.nll_solver],
            }
        )
        if self.levels is None:
            return {
                "estimator": "probability-flow ODE, density of continuous data",
                "solver": cfg.nll_solver,
                **grid,
                "divergence": cfg.nll_divergence,
                **({"probes": cfg.nll_probes} if cfg.nll_divergence == "hutchinson" else {}),
                "units": "nats per example",
            }
        return {
            "estimator": "probability-flow ODE, dequantized bound"
            if cfg.nll_draws == 1
            else "probability-flow ODE, importance-weighted dequantized bound",
            "solver": cfg.nll_solver,
            **grid,
            "divergence": cfg.nll_divergence,
            **({"probes": cfg.nll_probes} if cfg.nll_divergence == "hutchinson" else {}),
            "K": cfg.nll_draws,
            "t_min": cfg.nll_t_min,
            "nfe_last_batch": self.last_nll_nfe,
            "bound": "upper bound on -log P(x) of the discrete data in expectation (up to "
            "the solver's error and, with Hutchinson, its noise inside the log-mean-exp)",
            "units": "nats per example",
        }


def build_flowmatch(cfg: FlowMatchConfig, meta: DataMeta) -> FlowMatchModel:
    """The family's builder: the diffusion family's U-Net for discrete images, a velocity
    MLP for vector data (``nn.velocity``)."""
    if cfg.conditional and not meta.num_classes:
        raise ConfigError(f"model.conditional=true needs labels; {meta.name} has none")
    if cfg.conditional and not meta.is_image:
        raise ConfigError("model.conditional=true is for images; vector data are unconditional")
    classes = int(meta.num_classes or 0) if cfg.conditional else 0
    network = velocity_network(meta, cfg, num_classes=classes)
    return FlowMatchModel(network, meta, cfg)
