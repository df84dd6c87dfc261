"""The diffusion model's probability-flow ODE (Song et al. 2021, eq. 13) and its likelihood.

In continuous time tau = t / T in [0, 1] the schedule is an affine path x = alpha x_0 +
sigma eps (t = 0 data, t = T almost pure noise), and the ODE that carries the model's
marginals is the path's marginal velocity with the network's estimates inserted:

    dx/dtau = alpha'(tau) x0_hat(x, t) + sigma'(tau) eps_hat(x, t),

both estimates read off the network's output by its parameterization (well conditioned
near t = 0 for v and x_0 prediction). Between integer steps the schedule interpolates
log alpha_bar linearly (schedule.py), so alpha' and sigma' are piecewise smooth. The
network, trained at t = 1..T, is evaluated at float t: the likelihood starts at
``nll_t_min`` (default 0.1 timesteps, sigma about 0.002 on the cosine schedule, a quarter
of an 8-bit bin) because at t = 1 the marginal is the data blurred by sigma_1 = 0.0064, a
floor of its own. The prior at t = T is taken as N(0, I) (alpha_T of the clipped cosine
schedule is below 1e-4).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.diffusion.parameterization import eps_from, x0_from
from genlab.ode.likelihood import dequantized_nll
from genlab.ode.paths import Coefficients, as_column
from genlab.ode.solvers import EVALS_PER_STEP, Field

# the diffusion model (``schedule``, ``network``, ``config``, ``prediction``, ``levels``,
# ``num_classes``, ``_null``, ``_to_model``), typed loosely: this module sits below it
DiffusionModel = Any

__all__ = ["ode_nll", "ode_statement", "probability_flow", "schedule_coefficients"]


def schedule_coefficients(model: DiffusionModel, tau: torch.Tensor) -> Coefficients:
    """alpha, sigma and their derivatives in tau = t / T at times tau (any shape)."""
    T = model.schedule.T
    t = tau.to(torch.float64) * T
    la, dla = model.schedule.log_alpha_bar(t), model.schedule.d_log_alpha_bar(t) * T
    alpha, sigma = torch.exp(0.5 * la), torch.sqrt(-torch.expm1(la))
    return Coefficients(alpha, sigma, 0.5 * alpha * dla, -torch.exp(la) * dla / (2 * sigma))


def probability_flow(model: DiffusionModel) -> Field:
    """``(x (N, ...), tau (N,)) -> dx/dtau``, unconditional, x_0 not clipped."""
    null = model._null

    def fn(x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        k = schedule_coefficients(model, tau)
        a, s = as_column(k.alpha, x), as_column(k.sigma, x)
        t = tau.to(x.dtype) * model.schedule.T
        out = model.network(x, t, null(x, model.num_classes))
        x0 = x0_from(model.prediction, out, x, a, s)
        eps = eps_from(model.prediction, out, x, a, s)
        return as_column(k.d_alpha, x) * x0 + as_column(k.d_sigma, x) * eps

    return fn


def ode_nll(model: DiffusionModel, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(N,) nats, the ``nll_draws``-draw dequantized bound on -log P(x) through the ODE,
    and the NFE of the solve."""
    cfg = model.config
    return dequantized_nll(
        probability_flow(model),
        model._to_model(x),
        2.0 / (int(model.levels or 0) - 1),
        draws=cfg.nll_draws,
        t_min=cfg.nll_t_min / model.schedule.T,
        method=cfg.nll_solver,
        steps=cfg.nll_steps,
        spacing=cfg.nll_spacing,
        rtol=cfg.nll_tolerance,
        atol=cfg.nll_tolerance,
        divergence=cfg.nll_divergence,
        probes=cfg.nll_probes,
    )


def ode_statement(model: DiffusionModel, nfe: int) -> dict[str, object]:
    """The estimator of :func:`ode_nll`, JSON-able."""
    cfg = model.config
    grid: dict[str, object] = (
        {"tolerance": cfg.nll_tolerance}
        if cfg.nll_solver == "dopri5"
        else {
            "steps": cfg.nll_steps,
            "spacing": cfg.nll_spacing,
            "nfe": cfg.nll_steps * EVALS_PER_STEP[cfg.nll_solver],
        }
    )
    return {
        "estimator": "probability-flow ODE (Song et al. 2021), dequantized bound"
        + ("" if cfg.nll_draws == 1 else ", importance-weighted"),
        "solver": cfg.nll_solver,
        **grid,
        "divergence": cfg.nll_divergence,
        **({"probes": cfg.nll_probes} if cfg.nll_divergence == "hutchinson" else {}),
        "K": cfg.nll_draws,
        "t_min_timesteps": cfg.nll_t_min,
        "nfe_last_batch": nfe,
        "bound": "upper bound on -log P(x) of the discrete data in expectation (up to the "
        "solver's error and, with Hutchinson, its noise inside the log-mean-exp)",
        "units": "nats per example",
    }
