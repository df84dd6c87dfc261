"""The analytic truth the ODE tests use: data x_0 ~ N(mu, diag(s^2)) on an affine path has
Gaussian marginals x_t ~ N(alpha mu, alpha^2 s^2 + sigma^2), the exact marginal velocity

    v(x, t) = alpha' E[x_0 | x_t = x] + sigma' E[eps | x_t = x],
    E[x_0 | x] = mu + alpha s^2 / var_t (x - alpha mu),   E[eps | x] = sigma / var_t (x - alpha mu),

and the closed-form log-density log N(x; alpha_t mu, var_t) at every t."""

from __future__ import annotations

import math

import torch

from genlab.ode.paths import AffinePath

MU = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
S = torch.tensor([0.3, 0.8, 1.5], dtype=torch.float64)


def posterior_x0(x: torch.Tensor, t: torch.Tensor, path: AffinePath) -> torch.Tensor:
    k = path.at(t)
    a, s = k.alpha[:, None].to(x), k.sigma[:, None].to(x)
    var = a**2 * S**2 + s**2
    return MU + a * S**2 / var * (x - a * MU)


def velocity(path: AffinePath):
    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        k = path.at(t)
        a, s = k.alpha[:, None].to(x), k.sigma[:, None].to(x)
        var = a**2 * S**2 + s**2
        x0 = MU + a * S**2 / var * (x - a * MU)
        eps = s / var * (x - a * MU)
        return k.d_alpha[:, None].to(x) * x0 + k.d_sigma[:, None].to(x) * eps

    return field


def log_density(x: torch.Tensor, t: float, path: AffinePath) -> torch.Tensor:
    k = path.at(torch.tensor(t, dtype=torch.float64))
    var = k.alpha**2 * S**2 + k.sigma**2
    mean = k.alpha * MU
    return (-0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)).sum(1)


# an orthogonal matrix: rotated data x = R y, y ~ N(MU, diag S^2), has a full covariance,
# so dv/dx is not diagonal and Hutchinson's estimator has a spread to measure
R = torch.linalg.qr(torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [1.5, 0.2, -0.7]]))[0].to(
    torch.float64
)


def rotated_velocity(path: AffinePath):
    inner = velocity(path)
    return lambda x, t: inner(x @ R, t) @ R.T


def rotated_log_density(x: torch.Tensor, t: float, path: AffinePath) -> torch.Tensor:
    return log_density(x @ R, t, path)
