"""The diffusion model's probability-flow ODE against closed forms: with the analytic
optimal denoiser of Gaussian data as its network, the ODE log-density at t_min equals the
Gaussian marginal N(alpha mu, alpha^2 s^2 + sigma^2) of the (interpolated) schedule there;
a planted error in the schedule's derivative breaks it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.data import DataMeta
from genlab.diffusion import DiffusionConfig
from genlab.diffusion.flow_ode import probability_flow
from genlab.diffusion.model import DiffusionModel
from genlab.diffusion.schedule import NoiseSchedule
from genlab.ode.likelihood import log_density

MU = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64).view(1, 1, 1, 3)
S = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64).view(1, 1, 1, 3)
META = DataMeta("gauss", (1, 1, 3), 256, None)


class OptimalV(nn.Module):
    """v-prediction of E[x_0 | x_t] and E[eps | x_t] for x_0 ~ N(MU, S^2), any float t."""

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.schedule = schedule
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        a = self.schedule.alpha(t.double()).view(-1, 1, 1, 1)
        s = self.schedule.sigma(t.double()).view(-1, 1, 1, 1)
        var = a**2 * S**2 + s**2
        x0 = MU + a * S**2 / var * (x - a * MU)
        eps = s / var * (x - a * MU)
        return a * eps - s * x0 + 0 * self.dummy.detach()


def marginal_log_density(x: torch.Tensor, t: float, schedule: NoiseSchedule) -> torch.Tensor:
    a, s = schedule.alpha(torch.tensor(t)), schedule.sigma(torch.tensor(t))
    var = a**2 * S**2 + s**2
    return (-0.5 * (x - a * MU) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)).flatten(1).sum(1)


def model() -> DiffusionModel:
    schedule = NoiseSchedule("cosine", 1000)
    return DiffusionModel(OptimalV(schedule), schedule, META, config=DiffusionConfig()).eval()


@pytest.mark.parametrize("t_min", [0.1, 5.0])
def test_the_ode_density_of_the_optimal_denoiser_is_the_gaussian_marginal(t_min):
    m = model()
    g = torch.Generator().manual_seed(0)
    x = MU + S * torch.randn(8, 1, 1, 3, generator=g, dtype=torch.float64)
    dens = log_density(
        probability_flow(m), x, t_min=t_min / 1000, divergence="exact", rtol=1e-6, atol=1e-6
    )
    truth = marginal_log_density(x, t_min, m.schedule)
    # the prior N(0, I) at t = T stands in for the true marginal, and the schedule is
    # piecewise linear in log alpha_bar: a few thousandths of a nat, far below the planted
    # error below
    assert torch.allclose(dens.log_p, truth, atol=4e-3), (dens.log_p - truth).abs().max()


def test_a_wrong_schedule_derivative_is_caught(monkeypatch):
    m = model()
    slope = m.schedule.d_log_alpha_bar
    monkeypatch.setattr(m.schedule, "d_log_alpha_bar", lambda t: 1.1 * slope(t))
    x = MU + S * torch.randn(
        16, 1, 1, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    dens = log_density(probability_flow(m), x, t_min=1e-4, divergence="exact", rtol=1e-6, atol=1e-6)
    assert (dens.log_p - marginal_log_density(x, 0.1, m.schedule)).abs().max() > 2e-2
