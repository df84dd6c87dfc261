"""The diffusion model around the network: loss, bound terms against DDPM's own formulas,
the discretised decoder, guidance, and sampling in data space."""

from __future__ import annotations

import pytest
import torch

from genlab.data import load_dataset
from genlab.data.dataset import DataMeta
from genlab.diffusion import DiffusionConfig, build_diffusion
from genlab.diffusion.guidance import drop_labels, guide
from genlab.errors import ConfigError, GenlabError

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)


def tiny(**kw: object) -> DiffusionConfig:
    base: dict[str, object] = {
        "timesteps": 50,
        "channels": 8,
        "multipliers": (1, 2),
        "attention": (1,),
        "dropout": 0.0,
    }
    base.update(kw)
    return DiffusionConfig(**base)  # type: ignore[arg-type]


def perturbed(cfg: DiffusionConfig, meta: DataMeta = DIGITS, scale: float = 0.05):
    torch.manual_seed(0)
    model = build_diffusion(cfg, meta).double().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def test_bound_terms_equal_ddpm_formulas():
    """L_{t-1} recomputed from DDPM's eq. 7 (posterior from betas, not from the schedule's
    general posterior) with the same noise draw; L_0 from the normal CDF."""
    model = perturbed(tiny(schedule="linear"))
    x = load_dataset("digits").test.x[:4]
    x0 = x.double() * (2 / 16) - 1
    betas = model.schedule.betas
    abar = torch.cumprod(1 - betas, 0)
    for t in [2, 7, 50]:
        torch.manual_seed(5)
        got = model.vlb_terms(x, torch.tensor([t]))[:, 0]
        torch.manual_seed(5)
        eps = torch.randn_like(x0)
        a_t, a_prev, beta = abar[t - 1], abar[t - 2], betas[t - 1]
        x_t = a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps
        tt = torch.full((4,), t)
        x0_hat = model.predict_x0(x_t, tt).clamp(-1, 1)

        c0 = a_prev.sqrt() * beta / (1 - a_t)  # DDPM eq. 7
        ct = (1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)
        var = (1 - a_prev) / (1 - a_t) * beta
        want = ((c0 * x0 + ct * x_t - (c0 * x0_hat + ct * x_t)) ** 2 / (2 * var)).flatten(1).sum(1)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8)
    torch.manual_seed(5)
    l0 = model.vlb_terms(x, torch.tensor([1]))[:, 0]
    torch.manual_seed(5)
    x_1 = abar[0].sqrt() * x0 + (1 - abar[0]).sqrt() * torch.randn_like(x0)
    x0_hat = model.predict_x0(x_1, torch.full((4,), 1)).clamp(-1, 1)
    normal = torch.distributions.Normal(x0_hat, betas[0].sqrt())
    upper = torch.where(x0 > 1 - 1 / 16, 1.0, normal.cdf(x0 + 1 / 16))  # edge bins to +-inf
    lower = torch.where(x0 < -1 + 1 / 16, 0.0, normal.cdf(x0 - 1 / 16))
    want_l0 = -torch.log(upper - lower).flatten(1).sum(1)
    torch.testing.assert_close(l0, want_l0, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("strata", "exact"), [(0, 32), (1, 0), (7, 0), (49, 0), (7, 20), (30, 20)])
def test_nll_sums_the_terms_exactly_or_unbiasedly(strata, exact):
    """With known per-timestep terms f(t) = t^2 (and prior 3), nll is 3 + sum_t f(t):
    exactly with all timesteps, on average over draws with stratified ones (the first
    ``exact`` after t = 1 always summed exactly)."""
    cfg = tiny(nll_timesteps=strata, timesteps=50, nll_exact=exact)
    model = build_diffusion(cfg, DIGITS)
    model.vlb_terms = lambda x, t: (t.double() ** 2)[None].expand(len(x), -1)
    model.prior_term = lambda x: torch.full((len(x),), 3.0, dtype=torch.float64)
    want = 3.0 + sum(t * t for t in range(1, 51))
    x = torch.zeros(2, 1, 8, 8)
    torch.manual_seed(0)
    every = strata == 0 or strata >= 49 - exact
    draws = torch.stack([model.nll(x) for _ in range(1 if every else 3000)])
    assert draws.shape[1:] == (2,)
    if every:  # every timestep once
        assert torch.all(draws == want)
    else:
        est = draws[:, 0]
        stderr = float(est.std()) / len(est) ** 0.5
        assert stderr > 0  # a random estimate, not the sum itself
        assert abs(float(est.mean()) - want) < 4 * stderr


def test_guidance_and_label_dropping():
    c, u = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    assert torch.equal(guide(c, u, 1.0), c)
    torch.testing.assert_close(guide(c, u, 0.0), u)
    torch.testing.assert_close(guide(c, u, 3.0), u + 3.0 * (c - u))
    y = torch.arange(10).repeat(1000)
    dropped = drop_labels(y, 0.1, 10, torch.Generator().manual_seed(0))
    share = float((dropped == 10).float().mean())
    assert abs(share - 0.1) < 0.01 and torch.equal(dropped[dropped != 10], y[dropped != 10])
    assert torch.equal(drop_labels(y, 0.0, 10), y)


def test_conditional_model_uses_labels_and_guidance():
    model = perturbed(tiny(conditional=True), scale=0.05)
    calls = []

    class Spy(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x, t, y):
            calls.append(None if y is None else y.clone())
            return self.net(x, t, y)

    model.network = Spy(model.network)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        a = model.sample(4, label=3, guidance=2.0, steps=3, generator=g)
    assert a.shape == (4, 1, 8, 8)
    assert len(calls) == 3 and calls[0].tolist() == [3] * 4 + [10] * 4  # cond + null batch
    calls.clear()
    with torch.no_grad():
        model.sample(4, steps=3, generator=torch.Generator().manual_seed(0))
    assert calls[0].tolist() == [10] * 4  # no label: the null token
    with pytest.raises(GenlabError, match="classes 0..9"):
        model.sample(2, label=10)
    plain = build_diffusion(tiny(), DIGITS)
    with pytest.raises(GenlabError, match="conditional"):
        plain.sample(2, label=1)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp", "oneshot"])
def test_every_sampler_gives_data_space_samples(sampler):
    model = perturbed(tiny())  # float64, schedule buffers included
    x = model.sample(5, sampler=sampler, steps=4, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.long and x.shape == (5, 1, 8, 8)
    assert int(x.min()) >= 0 and int(x.max()) <= 16
    assert len(torch.unique(x)) > 2  # not collapsed onto the clamp


def test_bad_options_are_clear_errors():
    model = build_diffusion(tiny(), DIGITS)
    with pytest.raises(GenlabError, match="unknown sampler"):
        model.sample(2, sampler="euler")
    with pytest.raises(GenlabError, match="exceeds"):
        model.sample(2, steps=51)
    with pytest.raises(GenlabError, match="ddim"):
        model.sample(2, sampler="dpmpp", eta=0.5)
    with pytest.raises(ConfigError, match="discrete images"):
        build_diffusion(tiny(), DataMeta("toy2d:moons", (2,), None, None))
    with pytest.raises(ConfigError, match="attention"):
        build_diffusion(tiny(attention=(5,)), DIGITS)
    from genlab.diffusion import DiffusionModel

    with pytest.raises(ConfigError, match="disagrees"):
        DiffusionModel(model.network, model.schedule, DIGITS, prediction="eps", config=tiny())


def test_loss_trains_down_on_a_tiny_problem():
    torch.manual_seed(0)
    model = build_diffusion(tiny(), DIGITS)
    x = load_dataset("digits").train.x[:64]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = []
    for _ in range(60):
        loss, terms = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first.append(float(loss))
    assert sum(first[-10:]) / 10 < 0.8 * sum(first[:10]) / 10
    assert set(terms) == {"mse"}
