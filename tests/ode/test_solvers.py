"""ODE solvers against closed forms: each fixed-grid method's order of accuracy on a linear
ODE with a known solution, adaptive Dormand-Prince within its tolerance, NFE counts exact
(against an independent counter), both directions of time."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.ode.solvers import EVALS_PER_STEP, solve, steps_for_nfe, uniform_times

ORDER = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
A = torch.tensor([[-1.0, 2.0], [-2.0, -1.0]], dtype=torch.float64)  # spiral: e^{-t} rotation


def linear_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    assert t.shape == (len(x),), t.shape
    return x @ A.T


def exact(x0: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
    return x0 @ torch.linalg.matrix_exp(A * (t1 - t0)).T


X0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64)


@pytest.mark.parametrize("method", list(ORDER))
@pytest.mark.parametrize(("t0", "t1"), [(0.0, 1.0), (1.0, 0.0)])
def test_fixed_grid_order_of_accuracy(method, t0, t1):
    errors = []
    for steps in (8, 16, 32):
        out = solve(linear_field, X0, uniform_times(steps, t0, t1), method=method)
        errors.append(float((out.x - exact(X0, t0, t1)).abs().max()))
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(abs(o - ORDER[method]) < 0.3 for o in orders), (method, orders, errors)


def test_dopri5_meets_its_tolerance_and_tighter_costs_more():
    loose = solve(linear_field, X0, uniform_times(1), method="dopri5", rtol=1e-4, atol=1e-4)
    tight = solve(linear_field, X0, uniform_times(1), method="dopri5", rtol=1e-9, atol=1e-9)
    truth = exact(X0, 1.0, 0.0)
    assert float((tight.x - truth).abs().max()) < 1e-7
    assert float((loose.x - truth).abs().max()) < 1e-3
    assert tight.nfe > loose.nfe > 0


@pytest.mark.parametrize("method", [*ORDER, "dopri5"])
def test_nfe_counts_every_evaluation(method):
    calls = []

    def counted(x, t):
        calls.append(1)
        return linear_field(x, t)

    out = solve(counted, X0, uniform_times(5), method=method)
    assert out.nfe == len(calls)
    if method != "dopri5":
        assert out.nfe == 5 * EVALS_PER_STEP[method]


def test_steps_for_nfe_and_kept_steps():
    assert steps_for_nfe("heun", 20) == 10 and steps_for_nfe("rk4", 20) == 5
    with pytest.raises(ValueError, match="multiple of 4"):
        steps_for_nfe("rk4", 10)
    out = solve(linear_field, X0, uniform_times(4), method="heun", keep_steps=True)
    assert (
        len(out.steps) == 5 and torch.equal(out.steps[0], X0) and torch.equal(out.steps[-1], out.x)
    )


def test_bad_grids_and_methods_are_refused():
    with pytest.raises(ValueError, match="monotone"):
        solve(linear_field, X0, torch.tensor([1.0, 0.5, 0.7]))
    with pytest.raises(ValueError, match="unknown ODE solver"):
        solve(linear_field, X0, uniform_times(2), method="rk45")
