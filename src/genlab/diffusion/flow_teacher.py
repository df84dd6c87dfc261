"""A diffusion model seen as a flow-matching teacher on the linear path, so that the students
of ``genlab distill`` (consistency, reflow) learn its probability-flow ODE.

A diffusion state x = alpha x_0 + sigma eps at schedule time t, divided by (alpha + sigma),
is the linear-path state y = (1 - s) x_0 + s eps at s = sigma / (alpha + sigma): the same
signal-to-noise ratio (s / (1 - s) = sigma / alpha), so the same posterior over (x_0, eps).
The linear path's marginal velocity at (y, s) is therefore

    v(y, s) = E[eps - x_0 | y] = eps_hat(x, t) - x0_hat(x, t),   x = (alpha + sigma) y,

read off the diffusion network's one output, and its ODE carries y as the diffusion's
probability-flow ODE carries x (the ODE is invariant to this rescaling of space and time;
Kingma et al. 2021, sec. 5; Karras et al. 2022, sec. 4). The schedule time of a given s is
found by bisection on the monotone log-SNR. At s = 1 the clipped schedule's alpha_T (< 1e-4)
is taken as 0, as the diffusion sampler takes x_T ~ N(0, I).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genlab.diffusion.parameterization import eps_from, x0_from
from genlab.errors import GenlabError
from genlab.ode.paths import AffinePath, as_column
from genlab.ode.solvers import solve, steps_for_nfe, uniform_times

__all__ = ["LinearFlowView"]

BISECTIONS = 60  # halvings of [0, T]: T / 2^60, far below float64's resolution of t


class LinearFlowView(nn.Module):
    """``LinearFlowView(diffusion_model)``: a :class:`~genlab.protocols.FlowTeacher` on the
    linear path (module docstring); ``network`` is the diffusion model's, so a student of
    the same U-Net starts from its weights."""

    path = AffinePath("linear")

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    @property
    def network(self) -> nn.Module:
        return self.model.network

    def schedule_time(self, s: torch.Tensor) -> torch.Tensor:
        """Schedule times t in [0, T] (float64, shaped like ``s``) where sigma / (alpha +
        sigma) = s; s = 0 gives 0, s at or past the schedule's end gives T."""
        schedule = self.model.schedule
        # a batch holds a few distinct times (a sampler's or a distillation grid's): bisect those
        u, back = torch.unique(s.to(torch.float64).clamp(0.0, 1.0), return_inverse=True)
        # log SNR the linear path has at s, against the schedule's (decreasing in t)
        want = 2 * (torch.log1p(-u) - torch.log(u))  # +inf at s = 0, -inf at s = 1
        lo = torch.zeros_like(u)
        hi = torch.full_like(u, float(schedule.T))
        for _ in range(BISECTIONS):
            mid = 0.5 * (lo + hi)
            above = schedule.log_snr(mid) > want  # still too clean: go later
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        t = 0.5 * (lo + hi)
        return torch.where(u <= 0, torch.zeros_like(t), t)[back].reshape(s.shape)

    def field(self, y: torch.Tensor | None = None, guidance: float = 1.0) -> Any:
        """``(y, s (N,)) -> dy/ds`` on the linear path; unconditional only."""
        if y is not None:
            raise GenlabError("a diffusion teacher on the linear path is unconditional")
        model = self.model

        def fn(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            t = self.schedule_time(s)
            la = model.schedule.log_alpha_bar(t)
            alpha = torch.where(s >= 1, torch.zeros_like(la), torch.exp(0.5 * la))
            sigma = torch.sqrt(-torch.expm1(la))
            a, sg = as_column(alpha, x).to(x.dtype), as_column(sigma, x).to(x.dtype)
            xt = (a + sg) * x
            out = model.network(xt, t.to(x.dtype), model._null(x, model.num_classes))
            return eps_from(model.prediction, out, xt, a, sg) - x0_from(
                model.prediction, out, xt, a, sg
            )

        return fn

    def transport(
        self, x1: torch.Tensor, *, solver: str = "heun", nfe: int = 20, **_: Any
    ) -> tuple[torch.Tensor, int, list[torch.Tensor]]:
        """The linear-path ODE from the noise ``x1`` at s = 1 to s = 0 (a fixed-grid
        ``solver`` spending ``nfe``): (x at s = 0, NFE spent, [])."""
        grid = uniform_times(steps_for_nfe(solver, nfe))
        out = solve(self.field(None), x1, grid, method=solver)
        return out.x, out.nfe, []
