"""VAE decoder distributions checked in float64 against independent truth: normalisation
over every level (extreme parameters included), the naive logistic bin probability
(Salimans et al. 2017, eq. 2), torch.distributions.Normal, the expectation over the levels,
and empirical sample frequencies."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.vae.likelihoods import (
    Bernoulli,
    Categorical,
    DiscretizedLogistic,
    Gaussian,
    log_sigmoid_diff,
    make_likelihood,
)

D64 = torch.float64


def all_levels(levels: int, n_settings: int) -> torch.Tensor:
    """(L * n_settings, 1): every level, once per parameter setting (setting-major)."""
    return torch.arange(levels).repeat(n_settings).view(-1, 1)


def params_for(lik: object, levels: int, gen: torch.Generator) -> torch.Tensor:
    """(M, P, 1) parameter settings, random and extreme, for one data dimension."""
    if isinstance(lik, Bernoulli):
        logits = torch.tensor([-50.0, -3.0, 0.0, 0.7, 4.0, 50.0], dtype=D64)
        return logits.view(-1, 1, 1)
    if isinstance(lik, Categorical):
        rand = 3.0 * torch.randn(4, levels, generator=gen, dtype=D64)
        spiky = torch.zeros(2, levels, dtype=D64)
        spiky[0, 0], spiky[1, levels // 2] = 80.0, -80.0
        return torch.cat([rand, spiky]).view(-1, levels, 1)
    if isinstance(lik, Gaussian):
        mu = torch.tensor([-3.0, -1.0, -0.3, 0.0, 0.5, 1.0, 2.5], dtype=D64)
        logvar = torch.tensor([-20.0, -6.0, -1.0, 0.0, 1.0, -3.0, 4.0], dtype=D64)
        return torch.stack([mu, logvar], dim=1).view(-1, 2, 1)
    m = torch.cat([2.0 * torch.rand(4, generator=gen, dtype=D64) - 1.0, torch.tensor([-3.0, 1.7])])
    m = torch.cat([m, torch.tensor([0.0, 1.0 / (levels - 1), -1.2], dtype=D64)])  # on edges
    log_s = torch.tensor([-1.0, -3.0, 0.0, -5.0, -30.0, -12.0, -40.0, -25.0, 12.0], dtype=D64)
    return torch.stack([m, log_s], dim=1).view(-1, 2, 1)


def expand(params: torch.Tensor, levels: int) -> torch.Tensor:
    """(M, P, 1) -> (M * L, P, 1), each setting repeated for every level."""
    return params.repeat_interleave(levels, dim=0)


NORMALISED = [
    ("bernoulli", 2, {}),
    ("discretized_logistic", 2, {"min_log_scale": None}),
    ("discretized_logistic", 17, {"min_log_scale": None}),
    ("discretized_logistic", 256, {"min_log_scale": None}),
    ("discretized_logistic", 256, {}),
    ("categorical", 17, {}),
    ("gaussian", 17, {"variance": None}),
]


@pytest.mark.parametrize(("name", "levels", "kw"), NORMALISED)
def test_probabilities_sum_to_one_over_every_level(name, levels, kw):
    gen = torch.Generator().manual_seed(levels)
    lik = make_likelihood(name, levels, **kw)
    params = params_for(lik, levels, gen)
    lp = lik.log_prob(all_levels(levels, params.shape[0]), expand(params, levels))
    assert lp.shape == (params.shape[0] * levels,) and lp.dtype == D64
    assert torch.isfinite(lp).all() and (lp <= 1e-12).all()
    total = lp.exp().view(-1, levels).sum(dim=1)
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-6)


def test_logistic_inner_bin_equals_naive_sigmoid_difference():
    levels, h = 17, 1.0 / 16
    lik = DiscretizedLogistic(levels, min_log_scale=None)
    gen = torch.Generator().manual_seed(0)
    n = 300
    k = torch.randint(1, levels - 1, (n, 1), generator=gen)
    m = 2.4 * torch.rand(n, 1, generator=gen, dtype=D64) - 1.2
    log_s = 2.5 * torch.rand(n, 1, generator=gen, dtype=D64) - 2.0  # naive form stays exact
    x = -1.0 + 2.0 * k.double() / (levels - 1)
    s = log_s.exp()
    naive = torch.sigmoid((x + h - m) / s) - torch.sigmoid((x - h - m) / s)
    got = lik.log_prob(k, torch.stack([m, log_s], dim=1)).exp()
    torch.testing.assert_close(got, naive.view(-1), rtol=1e-8, atol=1e-15)


def test_logistic_edge_bins_reach_infinity():
    lik = DiscretizedLogistic(5, min_log_scale=None)
    m, log_s = torch.tensor([0.3], dtype=D64), torch.tensor([-0.5], dtype=D64)
    params = torch.stack([m, log_s], dim=1).view(1, 2, 1)
    s, h = math.exp(-0.5), 0.25
    first = lik.log_prob(torch.tensor([[0]]), params).exp().item()
    last = lik.log_prob(torch.tensor([[4]]), params).exp().item()
    assert first == pytest.approx(1 / (1 + math.exp(-(-1 + h - 0.3) / s)), rel=1e-12)
    assert last == pytest.approx(1 - 1 / (1 + math.exp(-(1 - h - 0.3) / s)), rel=1e-12)


def test_log_sigmoid_diff_stable_in_both_tails():
    a = torch.tensor([-800.0, 790.0, -1.0, 30.0], dtype=D64)
    b = a + torch.tensor([1.0, 1.0, 2.0, 1e-3], dtype=D64)
    got = log_sigmoid_diff(a, b)
    # far tails: sigma(u) = e^u and 1 - sigma(u) = e^-u to float64 precision
    sig = lambda u: 1.0 / (1.0 + math.exp(-u))  # noqa: E731
    want = torch.tensor(
        [
            -800.0 + math.log(math.e - 1.0),
            -790.0 + math.log(1.0 - math.exp(-1.0)),
            math.log(sig(1.0) - sig(-1.0)),
            math.log(sig(-30.0) - sig(-30.001)),
        ],
        dtype=D64,
    )
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_logistic_midpoint_fallback_in_float32_matches_float64():
    """A very wide logistic: the float32 CDF difference would cancel; the midpoint rule holds."""
    levels = 256
    k = torch.arange(1, levels - 1).view(1, -1)
    m = torch.full((1, 254), 0.2, dtype=D64)
    for log_s in (4.0, 9.0, 16.0):
        params = torch.stack([m, torch.full_like(m, log_s)], dim=1)
        exact = DiscretizedLogistic(levels, min_log_scale=None).log_prob(k, params)
        got = DiscretizedLogistic(levels, min_log_scale=None).log_prob(k, params.float())
        assert torch.isfinite(got).all()
        assert abs(got.double().item() - exact.item()) < 1e-4 * abs(exact.item())


def test_logistic_gradients_finite_at_extremes():
    lik = DiscretizedLogistic(256, min_log_scale=None)
    params = torch.tensor([[[0.0, 5.0, -0.5]], [[-40.0, 16.0, 0.0]]], dtype=torch.float32)
    params = params.transpose(0, 1).reshape(1, 2, 3).contiguous().requires_grad_(True)
    lik.log_prob(torch.tensor([[0, 200, 128]]), params).sum().backward()
    assert torch.isfinite(params.grad).all()


@pytest.mark.parametrize("variance", [0.3, None])
def test_gaussian_density_matches_torch_normal(variance):
    gen = torch.Generator().manual_seed(1)
    n, d = 5, 7
    y = 2.0 * torch.rand(n, d, generator=gen, dtype=D64) - 1.0
    mu = torch.randn(n, d, generator=gen, dtype=D64)
    logvar = torch.randn(n, d, generator=gen, dtype=D64) if variance is None else None
    lik = Gaussian(None, variance=variance)
    params = mu.unsqueeze(1) if logvar is None else torch.stack([mu, logvar], dim=1)
    assert lik.params_per_dim == params.shape[1]
    std = math.sqrt(variance) if logvar is None else (0.5 * logvar).exp()
    want = torch.distributions.Normal(mu, std).log_prob(y).sum(1)
    torch.testing.assert_close(lik.log_prob(y, params), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variance", [1.0, 1e-4, None])
def test_gaussian_on_discrete_data_is_the_binned_probability(variance):
    """On discrete data the Gaussian integrates its density over each bin, by the CDF
    (torch's Normal, an independent computation): never above 0 nats, however small
    sigma is; an unbinned density is refused."""
    gen = torch.Generator().manual_seed(4)
    levels, n, d = 17, 6, 5
    k = torch.randint(0, levels, (n, d), generator=gen)
    y = -1.0 + 2.0 * k.double() / (levels - 1)
    mu = y + 0.01 * torch.randn(n, d, generator=gen, dtype=D64)
    logvar = torch.full_like(mu, -9.0) if variance is None else None
    lik = make_likelihood("gaussian", levels, variance=variance)
    params = mu.unsqueeze(1) if logvar is None else torch.stack([mu, logvar], dim=1)
    std = (0.5 * logvar).exp() if logvar is not None else math.sqrt(variance)
    normal = torch.distributions.Normal(mu, std)
    half = 1.0 / (levels - 1)
    upper = torch.where(k == levels - 1, torch.ones_like(y), normal.cdf(y + half))
    lower = torch.where(k == 0, torch.zeros_like(y), normal.cdf(y - half))
    want = (upper - lower).log().sum(1)
    got = lik.log_prob(k, params)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert (got <= 1e-9).all()
    with pytest.raises(ValueError, match="not a probability"):
        Gaussian(levels, variance=variance, binned=False)


def test_gaussian_continuous_data_pass_through():
    x = torch.tensor([[0.1, -4.0, 2.5]], dtype=D64)
    params = torch.tensor([[[0.0, 1.0, 2.0], [0.0, -1.0, 0.5]]], dtype=D64)
    want = torch.distributions.Normal(params[:, 0], (0.5 * params[:, 1]).exp()).log_prob(x).sum(1)
    got = Gaussian(None, variance=None).log_prob(x, params)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


SAMPLERS = [
    (Bernoulli(), 2),
    (Categorical(17), 17),
    (DiscretizedLogistic(17), 17),
    (DiscretizedLogistic(256), 256),
    (Gaussian(17, variance=None), 17),
]


@pytest.mark.parametrize(("lik", "levels"), SAMPLERS, ids=lambda v: type(v).__name__)
def test_samples_in_range_shaped_and_reproducible(lik, levels):
    gen = torch.Generator().manual_seed(2)
    params = 2.0 * torch.randn(6, lik.params_per_dim, 3, 4, 4, generator=gen, dtype=D64)
    x1 = lik.sample(params, torch.Generator().manual_seed(7))
    x2 = lik.sample(params, torch.Generator().manual_seed(7))
    assert x1.shape == (6, 3, 4, 4) and x1.dtype == torch.int64
    assert x1.min() >= 0 and x1.max() <= levels - 1
    assert torch.equal(x1, x2)
    assert torch.isfinite(lik.log_prob(x1, params)).all()
    mean = lik.mean(params)
    assert mean.shape == (6, 3, 4, 4) and mean.is_floating_point()
    assert mean.min() >= 0 and mean.max() <= levels - 1


def test_gaussian_continuous_samples_are_floats():
    params = torch.zeros(3, 1, 5, dtype=D64)
    x = Gaussian(None, variance=4.0).sample(params, torch.Generator().manual_seed(0))
    assert x.shape == (3, 5) and x.dtype == D64


def test_categorical_sample_frequencies_match_softmax():
    levels, n = 17, 40_000
    gen = torch.Generator().manual_seed(3)
    logits = 1.5 * torch.randn(levels, generator=gen, dtype=D64)
    params = logits.view(1, levels, 1).expand(n, levels, 1)
    x = Categorical(levels).sample(params, gen).view(-1)
    counts = torch.bincount(x, minlength=levels).double()
    expected = n * torch.softmax(logits, 0)
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 45.0  # 16 degrees of freedom: P(chi2 > 45) ~ 1e-4


@pytest.mark.parametrize("dtype", [D64, torch.float32])
def test_logistic_sample_frequencies_match_its_probabilities(dtype):
    """Samples against log_prob: every level's frequency, edge levels included."""
    levels, n = 9, 60_000
    params = torch.tensor([0.55, -1.1], dtype=dtype).view(1, 2, 1).expand(n, 2, 1)
    lik = DiscretizedLogistic(levels)
    x = lik.sample(params, torch.Generator().manual_seed(5)).view(-1)
    counts = torch.bincount(x, minlength=levels).double()
    probs = lik.log_prob(all_levels(levels, 1), expand(params[:1], levels)).exp().double()
    expected = n * probs
    assert expected[-1] > 1000  # the last (open) bin carries real mass
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 35.0  # 8 degrees of freedom: P(chi2 > 35) ~ 3e-5


@pytest.mark.parametrize(
    "lik", [Categorical(17), DiscretizedLogistic(17), Bernoulli()], ids=lambda v: type(v).__name__
)
def test_mean_is_the_expected_level(lik):
    levels = lik.levels
    gen = torch.Generator().manual_seed(4)
    params = torch.randn(5, lik.params_per_dim, 1, generator=gen, dtype=D64)
    params[:, -1] -= 1.0 if isinstance(lik, DiscretizedLogistic) else 0.0
    probs = lik.log_prob(all_levels(levels, 5), expand(params, levels)).exp().view(5, levels)
    want = (probs * torch.arange(levels, dtype=D64)).sum(1)
    torch.testing.assert_close(lik.mean(params).view(5), want, rtol=1e-10, atol=1e-10)


def test_make_likelihood_builds_and_rejects():
    assert make_likelihood("categorical", 256).params_per_dim == 256
    assert make_likelihood("gaussian", None, variance=None).params_per_dim == 2
    assert make_likelihood("discretized_logistic", 256).params_per_dim == 2
    with pytest.raises(ValueError, match="did you mean 'categorical'"):
        make_likelihood("categorcal", 256)
    with pytest.raises(ValueError, match="choose one of"):
        make_likelihood("poisson", 256)
    with pytest.raises(ValueError, match="levels 2"):
        make_likelihood("bernoulli", 256)
    with pytest.raises(ValueError, match="needs discrete data"):
        make_likelihood("categorical", None)


def _naive_logistic_log_prob(k, m, log_s, levels, floor):
    """Autograd's reference: log(sigma(b) - sigma(a)) per dimension, edges to infinity."""
    h = 1.0 / (levels - 1)
    x = -1.0 + 2.0 * k.to(m.dtype) * h
    s = (log_s if floor is None else log_s.clamp(min=floor)).exp()
    cdf_hi = torch.where(k < levels - 1, torch.sigmoid((x + h - m) / s), torch.ones_like(m))
    cdf_lo = torch.where(k > 0, torch.sigmoid((x - h - m) / s), torch.zeros_like(m))
    return torch.log(cdf_hi - cdf_lo).flatten(start_dim=m.dim() - k.dim() + 1).sum(-1)


@pytest.mark.parametrize("floor", [None, -1.0])
def test_logistic_hand_written_gradient_matches_autograd_and_finite_differences(floor):
    """vae/fused.py's backward against autograd through the naive CDF difference and
    against torch's finite-difference gradcheck, in float64, with two leading sample
    axes broadcast against the data, every level class (first, inner, last) and, with a
    floor, log-scales on both sides of it."""
    from genlab.vae.fused import discretized_logistic_log_prob

    levels, gen = 9, torch.Generator().manual_seed(3)
    k = torch.randint(0, levels, (4, 1, 3, 3), generator=gen)
    k[0, 0, 0, :] = torch.tensor([0, levels - 1, 4])
    m = (1.6 * torch.rand(2, 4, 1, 3, 3, generator=gen, dtype=D64) - 0.8).requires_grad_(True)
    log_s = (2.0 * torch.rand(2, 4, 1, 3, 3, generator=gen, dtype=D64) - 2.5).requires_grad_(True)
    weights = torch.rand(2, 4, generator=gen, dtype=D64)

    got = discretized_logistic_log_prob(m, log_s, k, levels, floor)
    want = _naive_logistic_log_prob(k, m, log_s, levels, floor)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    g_got = torch.autograd.grad((got * weights).sum(), (m, log_s))
    g_want = torch.autograd.grad((want * weights).sum(), (m, log_s))
    for a, b in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    if floor is not None:  # the floor binds somewhere, and there the gradient is zero
        below = log_s.detach() < floor
        assert below.any() and (g_got[1][below] == 0).all()
    assert torch.autograd.gradcheck(
        lambda a, b: discretized_logistic_log_prob(a, b, k, levels, floor), (m, log_s)
    )
