"""Samplers checked against independent truth on Gaussian data, where everything is known
in closed form: for x0 ~ N(mu, Sigma) the optimal denoiser is

    E[x0 | x_t] = mu + alpha Sigma (alpha^2 Sigma + sigma^2 I)^{-1} (x_t - alpha mu),

the probability-flow ODE maps x_T to ``mu + Sigma^{1/2} (alpha_T^2 Sigma + sigma_T^2 I)^{-1/2}
(x_T - alpha_T mu)``, and a deterministic DDIM step (t -> s) multiplies each eigen-direction
(variance l) of ``x - alpha mu`` by ``(alpha_s alpha_t l + sigma_s sigma_t) / (alpha_t^2 l +
sigma_t^2)``. Plus the contract every sampler shares (shapes, dtypes, nfe, keep_steps) and
the timestep grids."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.diffusion.samplers import (
    DEFAULT_SPACING,
    SAMPLERS,
    ancestral,
    ddim,
    dpm_solver,
    one_shot,
    timestep_grid,
)
from genlab.diffusion.schedule import NoiseSchedule

T = 1000
N = 20_000
MU = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
_A = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.3, 0.4, 0.2]], dtype=torch.float64)
SIGMA = _A @ _A.T  # eigenvalues about 0.018, 0.44, 1.83
EIG, U = torch.linalg.eigh(SIGMA)


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule("cosine", T)


def gaussian_denoiser(schedule: NoiseSchedule):
    """E[x0 | x_t] for x0 ~ N(MU, SIGMA), in the eigenbasis of SIGMA; also checks the call."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.long and t.shape == (x.shape[0],)
        a = schedule.alpha(t)[:, None].to(x.dtype)
        s = schedule.sigma(t)[:, None].to(x.dtype)
        y = (x - a * MU.to(x.dtype)) @ U.to(x.dtype)
        y = y * (a * EIG.to(x.dtype) / (a**2 * EIG.to(x.dtype) + s**2))
        return MU.to(x.dtype) + y @ U.T.to(x.dtype)

    return denoise


def x_T(n: int = N, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def along_eigen(x: torch.Tensor, factor: torch.Tensor, alpha_T: float) -> torch.Tensor:
    """mu + U diag(factor) U^T (x - alpha_T mu), x (n, 3), factor (3,)."""
    return MU + (((x - alpha_T * MU) @ U) * factor) @ U.T


def probability_flow_map(xT: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """The exact ODE solution x_T -> x_0: each direction rescaled from std
    sqrt(alpha_T^2 l + sigma_T^2) to sqrt(l)."""
    a, s = schedule.alpha(torch.tensor(T)).item(), schedule.sigma(torch.tensor(T)).item()
    return along_eigen(xT, EIG.sqrt() / (a**2 * EIG + s**2).sqrt(), a)


def assert_matches_gaussian(x: torch.Tensor, k: float = 5.0) -> None:
    """Sample mean and covariance (n, 3) within k standard errors of MU and SIGMA:
    se(mean_i) = sqrt(S_ii / n), se(cov_ij) = sqrt((S_ii S_jj + S_ij^2) / n)."""
    n = x.shape[0]
    d = SIGMA.diagonal()
    se_mean = (d / n).sqrt()
    se_cov = ((d[:, None] * d[None, :] + SIGMA**2) / n).sqrt()
    mean_err = (x.mean(0) - MU).abs()
    cov_err = (torch.cov(x.T) - SIGMA).abs()
    assert torch.all(mean_err < k * se_mean), (mean_err, se_mean)
    assert torch.all(cov_err < k * se_cov), (cov_err, se_cov)


# ------------------------------------------------------------------ Gaussian truth


def test_ancestral_1000_steps_samples_the_data(schedule):
    grid = timestep_grid(T, T)
    g = torch.Generator().manual_seed(1)
    out = ancestral.sample(gaussian_denoiser(schedule), schedule, x_T(), grid, generator=g)
    assert_matches_gaussian(out.sample)


def test_ddim_matches_its_closed_form_on_gaussian_data(schedule):
    """DDIM (eta = 0) is linear here: the product over steps of the per-direction factor."""
    grid = timestep_grid(T, 20, DEFAULT_SPACING["ddim"], schedule)
    alpha, sigma = schedule.alpha(grid), schedule.sigma(grid)
    factor = torch.ones(3, dtype=torch.float64)
    for i in range(20):
        a_t, s_t, a_s, s_s = alpha[i], sigma[i], alpha[i + 1], sigma[i + 1]
        factor = factor * (a_s * a_t * EIG + s_s * s_t) / (a_t**2 * EIG + s_t**2)
    xT = x_T(1000)
    out = ddim.sample(gaussian_denoiser(schedule), schedule, xT, grid)
    torch.testing.assert_close(out.sample, along_eigen(xT, factor, alpha[0].item()))
    # first order: each step contracts by a cosine <= 1, so 20 steps shrink the variance
    assert torch.all(factor < EIG.sqrt() / (alpha[0] ** 2 * EIG + sigma[0] ** 2).sqrt())


def test_ddim_many_steps_and_dpm_solver_20_steps_sample_the_data(schedule):
    """DDIM needs many steps (at 20 its covariance is ~6% short, 12 standard errors, see the
    closed form above); DPM-Solver++(2M) at 20 steps is within about 2 standard errors."""
    den = gaussian_denoiser(schedule)
    out = ddim.sample(den, schedule, x_T(), timestep_grid(T, 250, DEFAULT_SPACING["ddim"]))
    assert_matches_gaussian(out.sample)
    grid = timestep_grid(T, 20, DEFAULT_SPACING["dpmpp"], schedule)
    out = dpm_solver.sample(den, schedule, x_T(), grid)
    assert_matches_gaussian(out.sample)


@pytest.mark.parametrize(("name", "order"), [("ddim", 1), ("dpmpp", 2)])
def test_deterministic_samplers_converge_to_the_ode_solution(schedule, name, order):
    """Error against the exact probability-flow map falls like steps^-order."""
    xT = x_T(2000)
    exact = probability_flow_map(xT, schedule)
    errors = []
    for steps in (25, 50, 100):
        grid = timestep_grid(T, steps, DEFAULT_SPACING[name], schedule)
        x = SAMPLERS[name](gaussian_denoiser(schedule), schedule, xT, grid).sample
        errors.append((x - exact).square().mean().sqrt().item())
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(r > order - 0.3 for r in rates), (errors, rates)


def test_one_shot_collapses_to_the_mean(schedule):
    """E[x0 | x_T] is nearly MU for every x_T: right mean, covariance about alpha_T^2 Sigma^2."""
    out = one_shot.sample(gaussian_denoiser(schedule), schedule, x_T(), timestep_grid(T, 1))
    assert (out.sample.mean(0) - MU).abs().max() < 0.01
    assert torch.cov(out.sample.T).trace() < 1e-3 * SIGMA.trace()


# ------------------------------------------------------------------ randomness


def test_ddim_eta_zero_is_deterministic_and_eta_positive_is_not(schedule):
    den, grid, xT = gaussian_denoiser(schedule), timestep_grid(T, 10), x_T(100)
    a = ddim.sample(den, schedule, xT, grid, generator=torch.Generator().manual_seed(1))
    b = ddim.sample(den, schedule, xT, grid, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.sample, b.sample)
    c = ddim.sample(den, schedule, xT, grid, eta=0.5, generator=torch.Generator().manual_seed(1))
    d = ddim.sample(den, schedule, xT, grid, eta=0.5, generator=torch.Generator().manual_seed(1))
    e = ddim.sample(den, schedule, xT, grid, eta=0.5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(c.sample, d.sample) and not torch.allclose(c.sample, e.sample)


def test_ddim_eta_one_is_the_ancestral_sampler(schedule):
    """Song et al. 2021, eq. 16: eta = 1 has the DDPM posterior's mean and variance; with
    the same noise draws the two samplers agree."""
    den, grid, xT = gaussian_denoiser(schedule), timestep_grid(T, 15, "quadratic"), x_T(500)
    a = ddim.sample(den, schedule, xT, grid, eta=1.0, generator=torch.Generator().manual_seed(3))
    b = ancestral.sample(den, schedule, xT, grid, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.sample, b.sample, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ancestral_step_has_the_chosen_variance(schedule, variance):
    """One step t -> s from a fixed x_t with a fixed x0_hat: mean and variance of x_s."""
    t, s, n = 600, 350, 40_000
    x_t = torch.full((n, 1), 0.3, dtype=torch.float64)
    x0_hat = 0.8
    g = torch.Generator().manual_seed(4)
    out = ancestral.sample(
        lambda x, tt: torch.full_like(x, x0_hat), schedule, x_t, torch.tensor([t, s]),
        generator=g, variance=variance,
    )  # fmt: skip
    a_t, a_s = schedule.alpha(torch.tensor(t)).item(), schedule.alpha(torch.tensor(s)).item()
    v_t, v_s = 1 - a_t**2, 1 - a_s**2
    v_ts = 1 - (a_t / a_s) ** 2
    mean = (a_t / a_s) * v_s / v_t * 0.3 + a_s * v_ts / v_t * x0_hat
    var = v_ts * v_s / v_t if variance == "posterior" else v_ts
    x = out.sample[:, 0]
    assert abs(x.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert abs(x.var().item() - var) < 5 * var * math.sqrt(2 / n)


# ------------------------------------------------------------------ contract


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("shape", [(6, 5), (4, 2, 3, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sampler_contract(schedule, name, shape, dtype):
    calls: list[torch.Tensor] = []

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert x.shape == shape and x.dtype == dtype
        assert t.dtype == torch.long and t.shape == (shape[0],) and torch.all(t == t[0])
        calls.append(t[0].clone())
        return 0.5 * x

    xT = torch.randn(shape, dtype=dtype)
    grid = timestep_grid(T, 7, DEFAULT_SPACING[name], schedule)
    g = torch.Generator().manual_seed(0)
    out = SAMPLERS[name](denoiser, schedule, xT, grid, generator=g, keep_steps=True)
    assert out.sample.shape == shape and out.sample.dtype == dtype
    assert torch.isfinite(out.sample).all()
    assert out.nfe == len(calls) == (1 if name == "oneshot" else 7)
    assert calls[0].item() == T and [c.item() for c in calls] == grid[: out.nfe].tolist()
    assert len(out.steps) == out.nfe + 1
    assert out.steps[0] is xT and out.steps[-1] is out.sample
    assert all(s.shape == shape and s.dtype == dtype for s in out.steps)
    quiet = SAMPLERS[name](denoiser, schedule, xT, grid, generator=g)
    assert quiet.steps == []


@pytest.mark.parametrize("name", ["ddim", "dpmpp", "oneshot"])
def test_float32_follows_float64(schedule, name):
    den, grid = gaussian_denoiser(schedule), timestep_grid(T, 20, DEFAULT_SPACING[name], schedule)
    x64 = SAMPLERS[name](den, schedule, x_T(200), grid).sample
    x32 = SAMPLERS[name](den, schedule, x_T(200).float(), grid).sample
    assert x32.dtype == torch.float32
    torch.testing.assert_close(x32.double(), x64, rtol=1e-4, atol=1e-4)


def test_bad_grids_raise(schedule):
    den, xT = gaussian_denoiser(schedule), x_T(4)
    for bad in (torch.tensor([T]), torch.tensor([0, T]), torch.tensor([T, 10, 10, 0]),
                torch.tensor([T + 1, 0]), torch.tensor([[T, 0]])):  # fmt: skip
        with pytest.raises(ValueError, match="timesteps"):
            ddim.sample(den, schedule, xT, bad)
    with pytest.raises(ValueError, match="eta"):
        ddim.sample(den, schedule, xT, timestep_grid(T, 3), eta=-1.0)
    with pytest.raises(ValueError, match="variance"):
        ancestral.sample(den, schedule, xT, timestep_grid(T, 3), variance="fixed")  # type: ignore[arg-type]


# ------------------------------------------------------------------ timestep grids


@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "logsnr"])
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_grid_is_strictly_decreasing_from_T_to_0(spacing, kind):
    for big_t in (5, T):
        sched = NoiseSchedule(kind, big_t)
        for steps in sorted({1, 2, 3, 5, 10, 20, 50, 999, 1000} & set(range(1, big_t + 1))):
            grid = timestep_grid(big_t, steps, spacing, sched)
            assert grid.dtype == torch.long and grid.shape == (steps + 1,)
            assert grid[0].item() == big_t and grid[-1].item() == 0
            assert torch.all(grid.diff() < 0), (spacing, steps, grid)


def test_grid_shapes():
    assert timestep_grid(T, 10).tolist() == list(range(T, -1, -100))
    assert timestep_grid(T, T).tolist() == list(range(T, -1, -1))
    quad = timestep_grid(T, 10, "quadratic")
    assert quad.tolist() == [round(T * (i / 10) ** 2) for i in range(10, -1, -1)]
    # uniform in log-SNR: equal steps of lambda between t = T and t = 1 (linear schedule)
    sched = NoiseSchedule("linear", T)
    grid = timestep_grid(T, 10, "logsnr", sched)
    assert grid[-2].item() == 1
    dlam = sched.log_snr(grid[:-1]).diff()
    assert (dlam.max() - dlam.min()) < 0.15 * dlam.mean(), dlam


def test_grid_errors():
    with pytest.raises(ValueError, match="steps"):
        timestep_grid(T, 0)
    with pytest.raises(ValueError, match="steps"):
        timestep_grid(T, T + 1)
    with pytest.raises(ValueError, match="schedule"):
        timestep_grid(T, 10, "logsnr")
    with pytest.raises(ValueError, match="spacing"):
        timestep_grid(T, 10, "cubic")  # type: ignore[arg-type]
