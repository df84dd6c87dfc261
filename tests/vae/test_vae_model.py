"""The VAE model: importance-sampled NLL against probabilistic PCA's closed form, the
training objectives, warm-up, and samples in data space."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.vae import VAE, VAEConfig, build_vae

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)


def ppca(k: int) -> VAE:
    """Linear encoder and decoder, Gaussian p(x | z) with variance 1: probabilistic PCA,
    log p(x) = log N(x; b, W W^T + I) (Tipping & Bishop 1999)."""
    meta = DataMeta("toy", (3,), None, None)
    cfg = VAEConfig(latent=2, depth=0, likelihood="gaussian", nll_samples=k)
    torch.manual_seed(0)
    model = build_vae(cfg, meta).double().eval()
    # q(z | x): the exact posterior's mean, but diagonal and with inflated variances
    # (an imperfect proposal, as a trained encoder is)
    w, b = model.decoder.last.weight, model.decoder.last.bias
    m_inv = torch.linalg.inv(w.T @ w + torch.eye(2, dtype=w.dtype))
    enc = model.encoder.last
    with torch.no_grad():
        enc.weight.zero_()
        enc.weight[:2] = m_inv @ w.T
        enc.bias[:2] = -(m_inv @ w.T @ b)
        enc.bias[2:] = torch.log(torch.diagonal(m_inv)) + 0.7
    return model


def exact_ppca_nll(model: VAE, x: torch.Tensor) -> torch.Tensor:
    w, b = model.decoder.last.weight, model.decoder.last.bias  # (3, 2), (3,)
    cov = w @ w.T + torch.eye(3, dtype=w.dtype)
    return -torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def test_importance_sampled_nll_converges_to_the_ppca_closed_form():
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    exact = exact_ppca_nll(ppca(1), x)
    gaps = []
    for k in (1, 10, 3000):
        model = ppca(k)
        torch.manual_seed(2)
        est = torch.stack([model.nll(x) for _ in range(20)]).mean(0)
        gaps.append(float((est - exact).mean()))
    # an upper bound on -log p(x) in expectation (up to Monte-Carlo error), tightening
    # with K from the loose K = 1 ELBO to the exact value
    assert gaps[0] > 0.05 and gaps[0] > gaps[1] > -0.02
    assert abs(gaps[2]) < 0.01


def test_an_old_state_dict_with_its_warmup_counter_still_loads():
    """Runs saved before the trainer passed the step kept a ``steps_seen`` buffer."""
    model = build_vae(VAEConfig(latent=4, hidden=32, kl_warmup=10), DIGITS)
    state = model.state_dict()
    assert not any("steps_seen" in k for k in state)
    old = {**state, "steps_seen": torch.tensor(123)}
    fresh = build_vae(VAEConfig(latent=4, hidden=32, kl_warmup=10), DIGITS)
    fresh.load_state_dict(old)  # strict: only the stale counter is dropped
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k]), k
    with pytest.raises(RuntimeError, match="other_key"):
        fresh.load_state_dict({**state, "other_key": torch.tensor(1)})


def test_elbo_and_iwae_losses_and_kl_warmup():
    model = build_vae(VAEConfig(latent=4, hidden=32, kl_warmup=10, beta=2.0), DIGITS)
    x = torch.randint(0, 17, (8, 1, 8, 8))
    assert model.kl_weight(0) == pytest.approx(0.2) and model.kl_weight(5) == pytest.approx(1.2)
    assert model.kl_weight(9) == model.kl_weight(500) == model.kl_weight(None) == 2.0
    # the step reaches the loss: with the same noise, only the KL weight moves
    model.train()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        early, terms = model.loss(x, step=0)
        torch.manual_seed(0)
        late, _ = model.loss(x, step=9)
    assert set(terms) == {"elbo_bpd", "kl"} and math.isfinite(float(early))
    gap = float(late - early) * DIGITS.dims
    assert gap == pytest.approx(1.8 * float(terms["kl"]), rel=1e-3)  # float32 loss
    assert float(terms["kl"]) > 0
    iw = build_vae(VAEConfig(latent=4, hidden=32, iwae_k=5), DIGITS)
    loss, terms = iw.loss(x)
    loss.backward()
    assert set(terms) == {"bound_bpd"}
    assert all(p.grad is not None for p in iw.parameters())


@pytest.mark.parametrize("network", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["categorical", "discretized_logistic"])
def test_samples_and_reconstructions_are_data(likelihood, network):
    cfg = VAEConfig(latent=4, hidden=32, likelihood=likelihood, network=network, channels=8)
    model = build_vae(cfg, DIGITS).eval()
    g = torch.Generator().manual_seed(0)
    for mode in ("sample", "mean"):
        s = model.sample(5, generator=g, mode=mode)
        assert s.shape == (5, 1, 8, 8) and s.dtype == torch.long
        assert int(s.min()) >= 0 and int(s.max()) <= 16
    r = model.reconstruct(torch.randint(0, 17, (3, 1, 8, 8)))
    assert r.shape == (3, 1, 8, 8)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ConfigError, match="bernoulli"):
        build_vae(VAEConfig(likelihood="bernoulli"), DIGITS)
    with pytest.raises(ConfigError, match="latent"):
        build_vae(VAEConfig(latent=0), DIGITS)
    with pytest.raises(ConfigError, match="needs images"):
        build_vae(VAEConfig(network="conv"), DataMeta("toy", (2,), None, None))
    with pytest.raises(ConfigError, match="no KL term"):
        build_vae(VAEConfig(iwae_k=4, kl_warmup=100), DIGITS)


def test_a_float64_model_samples_in_float64():
    model = build_vae(VAEConfig(latent=4, hidden=32), DIGITS).double().eval()
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8)


def test_conv_vae_on_colour_images_gives_nats_per_image():
    meta = DataMeta("cifar", (3, 7, 5), 256, 10)
    cfg = VAEConfig(latent=4, network="conv", channels=8, likelihood="categorical")
    model = build_vae(cfg, meta)
    x = torch.randint(0, 256, (4, 3, 7, 5))
    loss, _ = model.loss(x)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    model.config = VAEConfig(**{**cfg.__dict__, "nll_samples": 8})
    nll = model.nll(x)
    # an untrained decoder is near uniform over 256 levels: about log 256 nats per dim
    assert nll.shape == (4,) and 0.8 < float(nll.mean()) / (105 * math.log(256)) < 1.5
    assert model.sample(2).shape == (2, 3, 7, 5)
