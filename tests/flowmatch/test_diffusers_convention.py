"""The time convention against diffusers: our Euler step on the linear path equals
diffusers' ``FlowMatchEulerDiscreteScheduler.step`` on the same inputs, step for step
(diffusers' sigma is our t; both put noise at 1 and regress eps - x_0). diffusers is a
peer in the optional ``bench`` extra: without it this test is skipped."""

from __future__ import annotations

import pytest
import torch

from genlab.ode.solvers import solve

diffusers = pytest.importorskip("diffusers")


def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Any smooth velocity that depends on x and t."""
    return torch.sin(3 * x) * t.view(-1, 1, 1, 1) - 0.5 * x


def test_euler_equals_the_flow_match_euler_scheduler_step_by_step():
    sched = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sched.set_timesteps(12)
    sigmas = sched.sigmas.to(torch.float64)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = solve(field, x, sigmas, method="euler", keep_steps=True).steps
    theirs = [x]
    for i, t in enumerate(sched.timesteps):
        v = field(theirs[-1], sigmas[i].expand(len(x)))
        theirs.append(sched.step(v, t, theirs[-1]).prev_sample)
    assert len(ours) == len(theirs) == 13
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b.to(a.dtype), rtol=1e-6, atol=1e-6)
