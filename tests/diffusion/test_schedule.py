"""NoiseSchedule checked in float64 against independent truth: the one-step forward
recursion (Ho et al. 2020, eq. 2), Bayes' rule on Gaussians for the posterior (precision
weighting and a numeric density grid), the cosine formula of Nichol & Dhariwal 2021 (eq. 17)
and the DDPM linear betas."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.diffusion.schedule import NoiseSchedule

T = 1000
KINDS = ["linear", "cosine"]


def recursion(betas: list[float], s: int, t: int) -> tuple[float, float]:
    """Mean coefficient and variance of x_t given x_s from t - s one-step noisings
    ``x_i = sqrt(1 - beta_i) x_{i-1} + sqrt(beta_i) eps_i`` (betas[i - 1] is beta_i)."""
    mean, var = 1.0, 0.0
    for i in range(s + 1, t + 1):
        b = betas[i - 1]
        mean, var = math.sqrt(1 - b) * mean, (1 - b) * var + b
    return mean, var


@pytest.mark.parametrize("kind", KINDS)
def test_closed_form_equals_repeated_one_step_noising(kind):
    sched = NoiseSchedule(kind, T)
    betas = sched.betas.tolist()
    x0 = torch.tensor([[1.0], [-2.5]], dtype=torch.float64)
    for t in [1, 2, 10, 250, 500, 999, T]:
        coef, var = recursion(betas, 0, t)
        mean_cf, var_cf = sched.q_mean_var(x0, torch.tensor([t, t]))
        torch.testing.assert_close(mean_cf, coef * x0, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(var_cf, torch.full((2, 1), var, dtype=torch.float64))
        assert abs(sched.alpha(torch.tensor(t)).item() - coef) <= 1e-12 * coef + 1e-15
        assert abs(sched.sigma(torch.tensor(t)).item() ** 2 - var) <= 1e-12
        noise = torch.randn(2, 1, dtype=torch.float64)
        x_t = sched.q_sample(x0, torch.tensor([t, t]), noise)
        torch.testing.assert_close(x_t, coef * x0 + math.sqrt(var) * noise)


def bayes(betas: list[float], s: int, t: int, x_t: torch.Tensor, x0: torch.Tensor):
    """q(x_s | x_t, x0) from p(x_s | x0) = N(a_s x0, v_s) and p(x_t | x_s) = N(a x_s, v),
    both from the recursion, by precision weighting."""
    a_s, v_s = recursion(betas, 0, s)
    a, v = recursion(betas, s, t)
    precision = 1 / v_s + a * a / v
    return (a_s * x0 / v_s + a * x_t / v) / precision, 1 / precision


PAIRS = [(0 + 1, 2), (9, 10), (499, 500), (998, 999), (999, T), (1, 50), (10, 400), (300, 301),
         (500, 999), (1, T), (900, T)]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_is_bayes_rule(kind):
    sched = NoiseSchedule(kind, T)
    betas = sched.betas.tolist()
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(len(PAIRS), 4, generator=g, dtype=torch.float64)
    x0 = torch.randn(len(PAIRS), 4, generator=g, dtype=torch.float64)
    s = torch.tensor([p[0] for p in PAIRS])
    t = torch.tensor([p[1] for p in PAIRS])
    mean, var = sched.posterior(x_t, x0, t, s)
    assert mean.shape == x_t.shape and var.shape == (len(PAIRS), 1)
    for i, (si, ti) in enumerate(PAIRS):
        m_ref, v_ref = bayes(betas, si, ti, x_t[i], x0[i])
        torch.testing.assert_close(mean[i], m_ref, rtol=1e-10, atol=1e-12)
        assert abs(var[i, 0].item() - v_ref) <= 1e-10 * v_ref, (si, ti, var[i].item(), v_ref)


@pytest.mark.parametrize(("s", "t"), [(40, 41), (20, 300)])
def test_posterior_matches_numeric_density(s, t):
    """Normalise p(x_s | x0) p(x_t | x_s) on a fine 1-D grid of x_s and integrate."""
    sched = NoiseSchedule("linear", T)
    a_s, a_t = sched.alpha(torch.tensor(s)).item(), sched.alpha(torch.tensor(t)).item()
    v_s = 1 - a_s**2
    a, v = a_t / a_s, 1 - (a_t / a_s) ** 2
    x0, x_t = 0.7, -0.4
    grid = torch.linspace(-4, 4, 400_001, dtype=torch.float64)
    logp = -((grid - a_s * x0) ** 2) / (2 * v_s) - (x_t - a * grid) ** 2 / (2 * v)
    w = torch.exp(logp - logp.max())
    w = w / w.sum()
    m_num = (w * grid).sum().item()
    v_num = (w * (grid - m_num) ** 2).sum().item()
    mean, var = sched.posterior(
        torch.tensor([[x_t]], dtype=torch.float64),
        torch.tensor([[x0]], dtype=torch.float64),
        torch.tensor([t]),
        torch.tensor([s]),
    )
    assert abs(mean.item() - m_num) < 1e-8
    assert abs(var.item() - v_num) < 1e-8 * v_num


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_to_the_data_is_x0(kind):
    sched = NoiseSchedule(kind, T)
    x_t, x0 = torch.randn(3, 2, 2, dtype=torch.float64), torch.randn(3, 2, 2, dtype=torch.float64)
    mean, var = sched.posterior(x_t, x0, torch.tensor([1, 37, T]), torch.zeros(3, dtype=torch.long))
    torch.testing.assert_close(mean, x0, rtol=0, atol=1e-15)
    assert var.shape == (3, 1, 1) and torch.all(var == 0)


def test_cosine_alpha_bar_is_the_papers_formula():
    s = 0.008
    sched = NoiseSchedule("cosine", T, cosine_s=s)
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    ref = torch.tensor([ft / f[0] for ft in f], dtype=torch.float64)
    # every beta but the last (1 - alpha_bar_T / alpha_bar_{T-1} = 1) is below max_beta
    torch.testing.assert_close(sched.alpha_bar[:T], ref[:T], rtol=1e-12, atol=0)
    assert sched.betas[-1].item() == 0.999 and torch.all(sched.betas[:-1] < 0.999)
    assert sched.alpha_bar[T].item() == pytest.approx(sched.alpha_bar[T - 1].item() * 0.001)


def test_cosine_betas_are_clipped_at_max_beta():
    sched = NoiseSchedule("cosine", 10, max_beta=0.5)
    assert torch.all(sched.betas <= 0.5) and sched.betas[-1].item() == 0.5
    ref = torch.cumprod(1 - sched.betas, 0)
    torch.testing.assert_close(sched.alpha_bar[1:], ref, rtol=1e-13, atol=0)


def test_linear_betas_are_ddpm():
    sched = NoiseSchedule("linear", T)
    assert sched.betas.dtype == torch.float64 and sched.betas.shape == (T,)
    assert sched.alpha_bar.dtype == torch.float64 and sched.alpha_bar.shape == (T + 1,)
    ref = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
    torch.testing.assert_close(sched.betas, torch.tensor(ref, dtype=torch.float64))
    assert sched.alpha_bar[0].item() == 1.0 and sched.T == T
    torch.testing.assert_close(
        sched.alpha_bar[1:], torch.cumprod(1 - sched.betas, 0), rtol=1e-13, atol=0
    )


@pytest.mark.parametrize("kind", KINDS)
def test_continuous_time_is_exact_at_integers_and_monotone(kind):
    sched = NoiseSchedule(kind, T)
    ints = torch.arange(T + 1)
    for fn in (sched.alpha, sched.sigma, sched.log_snr):
        assert torch.equal(fn(ints.double()), fn(ints))
    fine = torch.linspace(0, T, 20 * T + 1, dtype=torch.float64)
    assert torch.all(sched.alpha(fine).diff() < 0)
    assert torch.all(sched.sigma(fine).diff() > 0)
    assert torch.all(sched.log_snr(fine).diff() < 0)
    torch.testing.assert_close(
        sched.alpha(fine) ** 2 + sched.sigma(fine) ** 2, torch.ones_like(fine)
    )
    # log alpha_bar is linear between integer steps
    mid = sched.alpha(torch.tensor([10.5])) ** 2
    torch.testing.assert_close(mid, (sched.alpha_bar[10] * sched.alpha_bar[11]).sqrt()[None])


def test_snr_and_time_zero():
    sched = NoiseSchedule("cosine", T)
    t = torch.tensor([[0, 1], [500, T]])
    assert sched.alpha(t).shape == (2, 2) and sched.alpha(t).dtype == torch.float64
    assert sched.log_snr(torch.tensor(0)).item() == math.inf
    assert sched.sigma(torch.tensor(0)).item() == 0 and sched.alpha(torch.tensor(0)).item() == 1
    a, s = sched.alpha(t[:, 1]), sched.sigma(t[:, 1])
    torch.testing.assert_close(sched.snr(t[:, 1]), a**2 / s**2)
    torch.testing.assert_close(sched.log_snr(t[:, 1]), torch.log(a**2 / s**2))


def test_results_keep_the_input_dtype():
    sched = NoiseSchedule("linear", T)
    x0 = torch.randn(4, 3, 8, 8)
    t = torch.tensor([1, 10, 100, T])
    x_t = sched.q_sample(x0, t, torch.randn_like(x0))
    mean, var = sched.q_mean_var(x0, t)
    pm, pv = sched.posterior(x_t, x0, t, t - 1)
    assert {x_t.dtype, mean.dtype, var.dtype, pm.dtype, pv.dtype} == {torch.float32}
    assert var.shape == pv.shape == (4, 1, 1, 1)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown schedule kind"):
        NoiseSchedule("sigmoid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        NoiseSchedule("cosine", 0)


def test_buffers_travel_with_the_state_dict():
    a, b = NoiseSchedule("linear", 50), NoiseSchedule("linear", 50)
    assert set(a.state_dict()) == {"betas", "alpha_bar"}
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.alpha_bar, b.alpha_bar)
