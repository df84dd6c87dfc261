"""The diffusion model around the network: loss, bound terms against DDPM's own formulas,
the discretised decoder, guidance, and sampling in data space."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.data import load_dataset
from genlab.data.dataset import DataMeta
from genlab.diffusion import DiffusionConfig, build_diffusion
from genlab.errors import ConfigError, GenlabError
from genlab.nn.guidance import drop_labels, guide

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


def test_terms_at_per_image_timesteps_match_shared_ones():
    """Row i of t (N, K) at t_i gives image i the term the shared (K,) call gives it with
    the same noise (noise is drawn per column, N images at a time)."""
    model = perturbed(tiny())
    x = load_dataset("digits").test.x[:3]
    t = torch.tensor([[2, 1], [7, 30], [50, 2]])
    got = model.vlb_terms(x, t, generator=torch.Generator().manual_seed(0))
    for k in range(2):
        for i in range(3):
            g = torch.Generator().manual_seed(0)
            for _ in range(k):  # the earlier columns' noise
                model.vlb_terms(x, t[:, :1], generator=g)
            shared = model.vlb_terms(x, t[i, k : k + 1], generator=g)[i, 0]
            torch.testing.assert_close(got[i, k], shared)


def mocked(cfg: DiffusionConfig):
    """A model whose terms are known: f(x_i, t) = (t + 1)^-1.5 * 100 + i, prior 3."""
    model = build_diffusion(cfg, DIGITS)

    def terms(x, t, y=None, *, generator=None, decoder=None):
        t = t.expand(len(x), -1) if t.dim() == 1 else t
        rows = torch.arange(len(x), dtype=torch.float64)[:, None]
        return 100 * (t.double() + 1) ** -1.5 + rows

    model.vlb_terms = terms
    model.prior_term = lambda x: torch.full((len(x),), 3.0, dtype=torch.float64)
    return model


@pytest.mark.parametrize(("draws", "exact"), [(1, 1), (4, 1), (4, 10), (12, 3)])
def test_nll_is_unbiased_for_the_sum_of_all_terms(draws, exact):
    """Known terms: the all-T path (nll_timesteps=0) sums them exactly; the sampled
    estimate has the same mean over many images' draws, and the model's proposal."""
    model = mocked(tiny(nll_timesteps=draws, nll_exact=exact))
    want = 3.0 + sum(100 * (t + 1) ** -1.5 for t in range(1, 51))
    every = mocked(tiny(nll_timesteps=0)).nll(torch.zeros(2, 1, 8, 8))
    torch.testing.assert_close(every, torch.tensor([want, want + 50]).double())
    x = torch.zeros(20000, 1, 8, 8)
    est = model.nll(x, generator=torch.Generator().manual_seed(0))
    est = est - torch.arange(len(x)) * 50  # image i adds i at each of the 50 timesteps
    stderr = float(est.std()) / len(est) ** 0.5
    assert stderr > 0  # a random estimate, not the sum itself
    assert abs(float(est.mean()) - want) < 4 * stderr


def test_nll_of_a_tiny_network_agrees_with_all_timesteps():
    """A real network (float64, T = 20): the mean over draws of the sampled bound equals
    the mean of the all-T bound, to within 4 standard errors of their difference."""
    n = 200
    x = load_dataset("digits").test.x[:2].repeat(n, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        sampled = perturbed(tiny(timesteps=20, nll_timesteps=3)).nll(x, generator=g)
        every = perturbed(tiny(timesteps=20, nll_timesteps=0)).nll(x, generator=g)
    sampled, every = sampled.view(n, 2), every.view(n, 2)
    diff = sampled.mean(0) - every.mean(0)
    stderr = (sampled.var(0) / n + every.var(0) / n).sqrt()
    assert torch.all(diff.abs() < 4 * stderr), (diff, stderr)
    assert torch.all(sampled.std(0) < 0.2 * sampled.mean(0))  # a useful estimate


def test_passes_per_image_seeds_and_estimator_record():
    model = perturbed(tiny(nll_timesteps=5, nll_exact=2, val_timesteps=2))
    calls = []
    forward = model.network.forward
    model.network.forward = lambda *a: calls.append(len(a[0])) or forward(*a)
    x = load_dataset("digits").test.x[:4]
    with torch.no_grad():
        a = model.nll(x, generator=torch.Generator().manual_seed(1))
        assert calls == [4] * 7  # nll_exact + nll_timesteps calls of the batch
        calls.clear()
        model.validation_nll(x, generator=torch.Generator().manual_seed(1))
        assert calls == [4] * 4
        b = model.nll(x, generator=torch.Generator().manual_seed(1))
        c = model.nll(x, generator=torch.Generator().manual_seed(2))
    assert a.shape == (4,) and torch.equal(a, b) and not torch.equal(a, c)
    record = model.nll_estimator()
    assert json.loads(json.dumps(record)) == record
    assert record["unbiased"] is True and record["network_passes_per_image"] == 7
    assert record["timesteps_per_image"] == 5 and record["exact_timesteps"] == "1..2"
    every = build_diffusion(tiny(nll_timesteps=0), DIGITS).nll_estimator()
    assert every["network_passes_per_image"] == 50 and "timesteps_per_image" not in every
    old = build_diffusion(tiny(timesteps=1000, nll_timesteps=100, nll_exact=32), DIGITS)
    assert old.nll_estimator()["network_passes_per_image"] == 132  # runs saved before
    with pytest.raises(ConfigError, match="nll_exact"):
        tiny(nll_exact=0)


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
