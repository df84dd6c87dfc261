"""What every continuous-time model shares, below the families: affine probability paths
and their velocity / x_0 / eps conversions (``paths``), ODE solvers that count their
network evaluations (``solvers``), exponential-integrator samplers in x_0 form
(``exponential``) and the log-likelihood through the ODE (``likelihood``)."""

from __future__ import annotations

from genlab.ode.likelihood import ODEDensity, dequantized_nll, log_density
from genlab.ode.paths import AffinePath, Coefficients, velocity_from_x0, x0_from_velocity
from genlab.ode.solvers import METHODS, CountingField, Solution, solve, uniform_times

__all__ = [
    "METHODS",
    "AffinePath",
    "Coefficients",
    "CountingField",
    "ODEDensity",
    "Solution",
    "dequantized_nll",
    "log_density",
    "solve",
    "uniform_times",
    "velocity_from_x0",
    "x0_from_velocity",
]
