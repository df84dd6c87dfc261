"""The flow family against independent truth: inverses, normalisation, the
dequantization bound against the exact discrete probability."""

import math

import pytest
import torch

from genlab.data.dataset import DataMeta
from genlab.flows import FlowConfig, FlowModel

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)
PRESETS = ["realnvp", "glow", "nsf"]


def _perturb(model: torch.nn.Module, scale: float, seed: int = 0) -> None:
    """Move every weight off its (identity) initialisation, so tests are not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _small(**kw) -> FlowConfig:
    base = {
        "steps": 2,
        "hidden": 32,
        "channels": 8,
        "blocks": 1,
        "dropout": 0.0,
        "deq_steps": 2,
        "deq_hidden": 8,
    }
    base.update(kw)
    return FlowConfig(**base)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_inverts_in_float64(preset):
    torch.manual_seed(0)
    model = FlowModel(_small(preset=preset), DIGITS).double().eval()
    _perturb(model, 0.05)
    z0 = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    z, logdet = model.flow(z0)
    back, inv_logdet = model.flow.inverse(z)
    torch.testing.assert_close(back, z0, atol=1e-5, rtol=0)
    torch.testing.assert_close(inv_logdet, -logdet, atol=1e-5, rtol=0)
    assert logdet.abs().max() > 1e-2  # the perturbed flow is far from the identity


@pytest.mark.parametrize("preset", ["realnvp", "nsf"])
def test_a_2d_flow_density_integrates_to_one(preset):
    meta = DataMeta("toy2d:moons", (2,), None, None)
    torch.manual_seed(0)
    model = FlowModel(_small(preset=preset, steps=3), meta).double().eval()
    _perturb(model, 0.1, seed=1)
    side = torch.linspace(-30, 30, 1201, dtype=torch.float64)  # wide: perturbed flows spread
    xx, yy = torch.meshgrid(side, side, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    with torch.no_grad():
        density = torch.cat([(-model.nll(c)).exp() for c in pts.split(200000)])
    cell = float(side[1] - side[0]) ** 2
    assert abs(float(density.sum()) * cell - 1.0) < 0.01


def _exact_discrete_logprob(model: FlowModel, levels: int, grid: int = 600) -> torch.Tensor:
    """log P(k) for every k in {0..L-1}^2, integrating the flow's density p(z0) over the
    bin's image in logit space (midpoint rule), independently of ``model.nll``."""
    a = model.logit.alpha
    edges = torch.logit(a + (1 - 2 * a) * torch.arange(levels + 1, dtype=torch.float64) / levels)
    edges = edges.clamp(-30, 30)
    out = torch.empty(levels, levels, dtype=torch.float64)
    for i in range(levels):
        for j in range(levels):

            def axis(k):
                t = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
                return edges[k] + t * (edges[k + 1] - edges[k]), (edges[k + 1] - edges[k]) / grid

            (zi, hi), (zj, hj) = axis(i), axis(j)
            z0 = torch.cartesian_prod(zi, zj)
            z, ld = model.flow(z0)
            log_p = -0.5 * (z * z + math.log(2 * math.pi)).sum(1) + ld
            out[i, j] = torch.logsumexp(log_p, 0) + torch.log(hi * hj)
    return out


@pytest.mark.parametrize(
    ("deq", "alpha"), [("uniform", 0.0), ("uniform", 0.05), ("variational", 0.0)]
)
def test_dequantized_nll_bounds_the_exact_discrete_nll(deq, alpha):
    """The bound is never below the exact -log P(k), which is computed without the model's
    own bookkeeping (a missing D log L or logit Jacobian would break it). With alpha = 0
    the model is normalised over the levels; alpha > 0 leaves the flow's mass outside the
    logit's range unused: a sub-normalised model whose bound stays valid, pessimistic."""
    levels = 4
    meta = DataMeta("tiny", (2,), levels, None)
    torch.manual_seed(0)
    model = FlowModel(_small(dequantization=deq, alpha=alpha), meta).double().eval()
    _perturb(model, 0.1, seed=2)  # far from the identity, with its mass inside the grid
    with torch.no_grad():
        exact = _exact_discrete_logprob(model, levels)
        total = float(exact.exp().sum())
        assert abs(total - 1.0) < 3e-3 if alpha < 1e-3 else total < 0.999
        ks = torch.cartesian_prod(torch.arange(levels), torch.arange(levels))
        reps = ks.repeat_interleave(4000, 0)
        bound = model.nll(reps).view(len(ks), -1).mean(1)  # E_q[...] per k
    gap = bound - (-exact.flatten())
    assert (gap > -0.01).all(), gap  # a bound: never below the exact NLL (MC error aside)


def test_without_dequantization_the_number_is_a_density_not_a_probability():
    """``none`` trains on the density at each bin centre (plus D log L): recomputed here
    from the logit and the flow, it gives "probabilities" that do not sum to 1 over the
    levels, so ``density_nll`` is neither a bound nor a likelihood. Its ``nll`` is the
    uniform dequantization bound instead: the mean of ``w = exp(-nll)`` over many draws is
    each level's bin mass, and those masses sum to at most 1 (a Monte Carlo mean of a
    heavy-tailed w falls short of it: 0.93 at 4000 draws, 0.97 at 40,000 here)."""
    meta = DataMeta("tiny", (2,), 4, None)
    torch.manual_seed(0)
    model = FlowModel(_small(dequantization="none", alpha=0.0), meta).double().eval()
    _perturb(model, 0.2, seed=2)
    ks = torch.cartesian_prod(torch.arange(4), torch.arange(4))
    with torch.no_grad():
        z0, ld_logit = model.logit((ks.double() + 0.5) / 4)
        z, ld = model.flow(z0)
        by_hand = 0.5 * (z * z + math.log(2 * math.pi)).sum(1) - ld - ld_logit + 2 * math.log(4)
        density = model.density_nll(ks)
        torch.testing.assert_close(density, by_hand, atol=1e-5, rtol=0)
        assert torch.equal(model.density_nll(ks), density)  # no noise: deterministic
        assert abs(float(density.neg().exp().sum()) - 1.0) > 0.05
        draws = torch.stack([model.nll(ks) for _ in range(4000)])  # (K, 16)
    masses = draws.neg().exp().mean(0)  # E_u[w] = P(k), the bin's mass
    assert 0.85 < float(masses.sum()) <= 1.02
    assert model.nll_estimator()["dequantizer"] == "uniform"


def test_more_draws_give_a_tighter_importance_weighted_bound():
    """``nll_draws = K``: -log mean_k w_k; in expectation it decreases with K towards
    -log P(k) (Burda et al. 2016), here estimated by averaging many independent calls."""
    meta = DataMeta("tiny", (2,), 4, None)
    ks = torch.cartesian_prod(torch.arange(4), torch.arange(4)).repeat(200, 1)
    means = []
    for k in (1, 4, 32):
        torch.manual_seed(0)
        model = FlowModel(_small(nll_draws=k), meta).double().eval()
        _perturb(model, 0.5, seed=3)
        with torch.no_grad():
            means.append(float(model.nll(ks).mean()))
        assert model.nll_estimator()["K"] == k
    assert means[0] > means[1] > means[2], means


@pytest.mark.parametrize("preset", PRESETS)
def test_samples_are_data_and_prepare_initialises_actnorm(preset):
    from genlab.flows.transforms import ActNorm

    model = FlowModel(_small(preset=preset), DIGITS)
    x = torch.randint(0, 17, (64, 1, 8, 8))
    model.prepare(x)
    norms = [m for m in model.modules() if isinstance(m, ActNorm)]
    assert norms and all(bool(m.initialized) for m in norms)
    s = model.eval().sample(9, generator=torch.Generator().manual_seed(0))
    assert s.shape == (9, 1, 8, 8) and s.dtype == torch.int64
    assert int(s.min()) >= 0 and int(s.max()) <= 16


def test_glow_needs_images_and_even_sides():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="needs images"):
        FlowModel(_small(preset="glow"), DataMeta("toy2d:moons", (2,), None, None))
