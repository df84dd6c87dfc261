"""DDIM and DPM-Solver++(2M) in x_0 form driving a flow-matching ODE: on Gaussian data,
with the analytic optimal x_0 estimate, both converge to the ODE's own solution (RK4 at a
fine grid), DPM-Solver++ faster than DDIM, and DDIM equal to Euler on the linear path
(where its step is Euler's)."""

from __future__ import annotations

import pytest
import torch

import ode_gaussian as gaussian
from genlab.ode.exponential import ddim, dpmpp_2m
from genlab.ode.paths import AffinePath
from genlab.ode.solvers import solve, uniform_times


def start(n: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def run(sampler, path: AffinePath, steps: int, x: torch.Tensor) -> torch.Tensor:
    times = uniform_times(steps)
    k = path.at(times)

    def x0_at(y: torch.Tensor, i: int) -> torch.Tensor:
        return gaussian.posterior_x0(y, times[i].expand(len(y)), path)

    return sampler(x0_at, k.alpha, k.sigma, x)[0]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_exponential_samplers_converge_to_the_ode_and_beat_euler(kind):
    path = AffinePath(kind)
    x1 = start()
    # the reference stops short of t = 0 by nothing: the exact field is smooth there
    ref = solve(gaussian.velocity(path), x1, uniform_times(400), method="rk4").x
    euler = solve(gaussian.velocity(path), x1, uniform_times(10), method="euler").x

    def err(x: torch.Tensor) -> float:
        return float((x - ref).abs().max())

    e_ddim, e_dpm = err(run(ddim, path, 10, x1)), err(run(dpmpp_2m, path, 10, x1))
    if kind == "linear":  # on the straight path DDIM's step is exactly Euler's
        assert torch.allclose(run(ddim, path, 10, x1), euler, atol=1e-12)
        assert e_dpm < e_ddim / 3, (e_dpm, e_ddim)
    else:
        # on a uniform t grid the cosine path's end steps are long in log-SNR: DDIM is then
        # worse than Euler here; only the ordering of the two exponential samplers holds
        assert e_dpm < e_ddim / 2, (e_dpm, e_ddim, err(euler))
    assert err(run(dpmpp_2m, path, 320, x1)) < 1e-3  # order about 1.6 here, 1 for DDIM
    assert err(run(ddim, path, 320, x1)) < 3e-2


def test_kept_steps_start_at_the_prior_and_end_at_the_sample():
    path = AffinePath("linear")
    times = uniform_times(4)
    k = path.at(times)
    x1 = start(5)
    out, steps = dpmpp_2m(
        lambda y, i: gaussian.posterior_x0(y, times[i].expand(len(y)), path),
        k.alpha,
        k.sigma,
        x1,
        keep_steps=True,
    )
    assert len(steps) == 5 and torch.equal(steps[0], x1) and torch.equal(steps[-1], out)
