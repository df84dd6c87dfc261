"""The ``consistency`` family: a few-step student distilled from a flow-matching teacher (or a
diffusion model rewritten on the linear path, ``genlab.diffusion.flow_teacher``) by
consistency distillation (Song et al. 2023, "Consistency Models", Algorithm 2).

Along the teacher's probability-flow ODE (t = 0 data, t = 1 noise) every point x_t has one
end point x_{t_min}. The student learns that map, f(x_t, t) = x_{t_min}, so one network
pass turns noise into a sample. Its parameterisation fixes the boundary condition:

    f(x, t) = c_skip(t) x + c_out(t) F(x, t),   c_skip = 1,   c_out = t_min - t,

so f(x, t_min) = x exactly (c_out = 0 there), and F is velocity-shaped: the average
velocity from t down to t_min. The student starts from the teacher's weights, where f is
one Euler step of the teacher to t_min (at t = 1: the one-shot E[x_0 | x_1] baseline).

Training (Algorithm 2): the teacher's ODE cut at t_0 = t_min < ... < t_N = 1; per image
an interval n, x_{t_{n+1}} = alpha x_0 + sigma eps on the path, one teacher step (Euler or
Heun) from t_{n+1} to t_n, and the distance (pseudo-Huber or squared L2) between the
student's f(x_{t_{n+1}}, t_{n+1}) and the target network's f^-(x_hat_{t_n}, t_n), no
gradient through the target. The target's weights theta^- follow the student's by an
exponential average with ``target_ema`` after every step: a tensor of its own (``target``),
apart from the evaluation EMA the trainer keeps (``train.ema``).

Sampling (Algorithm 1): x = f(z, 1); for each further evaluation at time tau,
x = f(alpha_tau x + sigma_tau eps, tau) with fresh noise.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from genlab.consistency.config import ConsistencyConfig
from genlab.data.dataset import DataMeta
from genlab.data.scaling import from_centered, to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.nn.distill import TeacherRef, copy_network, pseudo_huber
from genlab.nn.velocity import TIME_SCALE, velocity_network
from genlab.ode.paths import AffinePath, as_column
from genlab.protocols import FlowTeacher

__all__ = ["ConsistencyModel", "build_consistency"]


class ConsistencyModel(nn.Module):
    """``ConsistencyModel(network, meta, config)``: see the module docstring.

    ``network(x_t, 1000 t (N,), None) -> F (same shape as x_t)``, the teacher's kind."""

    def __init__(self, network: nn.Module, meta: DataMeta, config: ConsistencyConfig) -> None:
        super().__init__()
        self.network, self.meta, self.config = network, meta, config
        # theta^-: the target network of the distillation loss (not the evaluation EMA)
        self.target = copy.deepcopy(network).requires_grad_(False)
        self.path = AffinePath(config.path)
        self.levels = meta.levels
        self._teacher = TeacherRef()

    # ---------------------------------------------------------------- the teacher

    @property
    def teacher_run(self) -> str:
        return self.config.teacher

    def attach_teacher(self, teacher: nn.Module, *, initialise: bool) -> None:
        """Learn from ``teacher`` (a :class:`FlowTeacher`: a trained flowmatch model, or a
        diffusion model's ``linear_flow()``, which the run layer hands over);
        ``initialise``: start the student and its target from the teacher's weights."""
        if not isinstance(teacher, FlowTeacher):
            raise ConfigError(
                f"model.teacher={self.config.teacher}: consistency distillation needs a "
                f"flowmatch or diffusion teacher, got {type(teacher).__name__}"
            )
        if teacher.path != self.path:
            raise ConfigError(
                f"model.path={self.config.path} but the teacher's path is "
                f"{teacher.path.kind}; the student follows its teacher's path"
            )
        if initialise:
            copy_network(self.network, teacher.network, self.config.teacher)
            self.target.load_state_dict(self.network.state_dict())
        self._teacher.set(teacher)

    # ---------------------------------------------------------------- the map

    def times(self) -> torch.Tensor:
        """(N + 1,) float64, the discretisation t_0 = t_min < ... < t_N = 1."""
        cfg = self.config
        u = torch.linspace(0.0, 1.0, cfg.intervals + 1, dtype=torch.float64)
        return cfg.t_min + (1.0 - cfg.t_min) * u**cfg.spacing

    def consistency(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """f(x, t) = x + (t_min - t) F(x, t) for times t (N,): x itself at t = t_min."""
        c_out = as_column(self.config.t_min - t.to(torch.float64), x).to(x.dtype)
        return x + c_out * net(x, TIME_SCALE * t.to(x.dtype), None)

    @torch.no_grad()
    def _update_target(self) -> None:
        mu = self.config.target_ema
        src = [p.detach() for p in self.network.parameters()]
        torch._foreach_lerp_(list(self.target.parameters()), src, 1.0 - mu)
        for b_dst, b_src in zip(self.target.buffers(), self.network.buffers(), strict=True):
            b_dst.copy_(b_src)

    # ---------------------------------------------------------------- training

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return to_centered(x, self.levels, next(self.network.parameters()).dtype)

    def _teacher_step(
        self, teacher: Any, x: torch.Tensor, t_hi: torch.Tensor, t_lo: torch.Tensor
    ) -> torch.Tensor:
        """One step of the teacher's ODE from t_hi to t_lo (N,) each, Euler or Heun."""
        field = teacher.field(None)
        h = as_column(t_lo - t_hi, x).to(x.dtype)
        v = field(x, t_hi.to(x.dtype))
        guess = x + h * v
        if self.config.teacher_solver == "euler":
            return guess
        return x + 0.5 * h * (v + field(guess, t_lo.to(x.dtype)))

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The consistency-distillation loss (module docstring), mean over the batch; the
        target network moves first when training (``step`` and ``y`` are not used)."""
        teacher = self._teacher.get(self.config.teacher, x.device)
        if self.training:
            self._update_target()  # theta^- after the previous step's update of theta
        x0 = self._to_model(x)
        grid = self.times().to(x0.device)
        n = torch.randint(0, self.config.intervals, (len(x0),), device=x0.device)
        t_hi, t_lo = grid[n + 1], grid[n]
        eps = torch.randn_like(x0)
        k = self.path.at(t_hi)
        x_hi = as_column(k.alpha, x0).to(x0.dtype) * x0 + as_column(k.sigma, x0).to(x0) * eps
        with torch.no_grad():
            x_lo = self._teacher_step(teacher, x_hi, t_hi, t_lo)
            was = self.target.training
            self.target.eval()
            target = self.consistency(self.target, x_lo, t_lo)
            self.target.train(was)
        out = self.consistency(self.network, x_hi, t_hi)
        if self.config.distance == "l2":
            dist = ((out - target) ** 2).flatten(1).mean(1)
        else:
            dist = pseudo_huber(out, target)
        return dist.mean(), {"distance": dist.mean().detach()}

    # ---------------------------------------------------------------- sampling

    def sample_times(self, nfe: int) -> torch.Tensor:
        """(nfe,) float64: 1, then t_min + (1 - t_min) ((K - k) / K)^spacing, k = 1..K-1."""
        cfg = self.config
        k = torch.arange(nfe, dtype=torch.float64)
        return cfg.t_min + (1.0 - cfg.t_min) * ((nfe - k) / nfe) ** cfg.spacing

    def generate(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        nfe: int | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Samples (n, ...) in model space with ``nfe`` evaluations (None: ``model.nfe``),
        from ``noise`` (n, ...) at t = 1 when given, else drawn from ``generator``."""
        k = nfe or self.config.nfe
        device = next(self.network.parameters()).device
        dtype = next(self.network.parameters()).dtype
        gen_device = generator.device if generator is not None else device

        def draw() -> torch.Tensor:
            z = torch.randn((n, *self.meta.shape), generator=generator, device=gen_device)
            return z.to(device, dtype)

        x = noise.to(device, dtype) if noise is not None else draw()
        for i, tau in enumerate(self.sample_times(k).tolist()):
            t = torch.full((n,), tau, dtype=torch.float64, device=device)
            if i > 0:
                c = self.path.at(t[:1])
                x = float(c.alpha) * x + float(c.sigma) * draw()
            x = self.consistency(self.network, x, t)
        return x.clamp(-1, 1) if self.config.clip else x

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        nfe: int | None = None,
    ) -> torch.Tensor:
        """``n`` samples in data space (n, C, H, W), integer levels; ``nfe`` as in
        ``ConsistencySampling``. Unconditional: ``y`` must be None."""
        if y is not None:
            raise GenlabError("consistency students are unconditional: sample without labels")
        return from_centered(self.generate(n, generator=generator, nfe=nfe), self.levels)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        raise GenlabError(
            "a consistency model has no likelihood (it maps noise to data in a few steps, "
            "with no density); score it with --metrics fd,kid,pr,sharpness"
        )


def build_consistency(cfg: ConsistencyConfig, meta: DataMeta) -> ConsistencyModel:
    """The family's builder: the teacher's kind of network (``nn.velocity``)."""
    network = velocity_network(meta, cfg, family="consistency")
    return ConsistencyModel(network, meta, cfg)
