"""Likelihoods against known entropy: on images of i.i.d. uniform pixels the entropy is
exactly log2(L) bits/dim (8 at 256 levels), and no model of the discrete data can beat
it in expectation on fresh images (cross-entropy >= entropy). Every generative family
and every likelihood option, trained briefly on such images, must score at least that,
less two standard errors, on fresh ones: a density passed off as a probability of the
levels (an unbinned Gaussian, a flow without dequantization) scores far below and fails.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from genlab import registry
from genlab.data import DataMeta
from genlab.family import get_family
from genlab.protocols import FitsNLL, Preparable

LEVELS = 256
SHAPE = (1, 8, 8)
# every family that scores data (a consistency student has no likelihood to test)
GENERATIVE = [
    n for n in registry.FAMILIES if get_family(n).kind == "generative" and get_family(n).likelihood
]
# the evaluation's own cost knobs kept small: fewer importance samples or timesteps still
# give a bound on -log P (looser, so the test is only harder to pass for a broken one)
CHEAP = {
    "vae": {"nll_samples": 16},
    "diffusion": {"nll_timesteps": 16},
    "flowmatch": {"nll_tolerance": 1e-3},
}
OPTIONS = (
    [(name, {}) for name in GENERATIVE if name not in ("vae", "flow")]
    + [("vae", {"likelihood": lik}) for lik in ("categorical", "discretized_logistic", "gaussian")]
    + [("flow", {"dequantization": d}) for d in ("none", "uniform", "variational")]
    + [("diffusion", {"nll_decoder": "fitted"})]
    + [("diffusion", {"nll_method": "ode", "nll_tolerance": 1e-3})]
)


def uniform_images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, LEVELS, (n, *SHAPE), generator=g)


@pytest.mark.parametrize(("family", "options"), OPTIONS, ids=lambda v: str(v))
def test_no_model_beats_the_entropy_of_uniform_pixels(family, options):
    torch.manual_seed(0)
    meta = DataMeta(name="uniform-pixels", shape=SHAPE, levels=LEVELS, num_classes=None)
    fam = get_family(family)
    cfg = replace(fam.config(), **CHEAP.get(family, {}), **options)
    model = fam.build(cfg, meta)
    train = uniform_images(512, 0)
    if isinstance(model, Preparable):
        model.prepare(train, None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(30):
        idx = torch.randint(0, len(train), (64,), generator=torch.Generator().manual_seed(step))
        loss, _ = model.loss(train[idx], None, step=step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    if isinstance(model, FitsNLL):  # evaluation settings fitted on the training images
        model.fit_nll(train)
    with torch.no_grad():
        nll = model.nll(uniform_images(128, 1))  # nats per image, fresh images
    bpd = nll / (math.prod(SHAPE) * math.log(2))
    mean, se = float(bpd.mean()), float(bpd.std() / math.sqrt(len(bpd)))
    assert mean >= math.log2(LEVELS) - 2 * se, (family, options, mean, se)


def test_the_entropy_check_catches_a_density_passed_off_as_a_probability():
    """Planted: the unbinned Gaussian density of the centred levels (what
    ``model.likelihood=gaussian`` reported before it was binned), with its mean at the
    data, scores far below 8 bits/dim: the bound above would fail it."""
    from genlab.data.scaling import to_centered
    from genlab.vae.likelihoods import Gaussian

    x = uniform_images(128, 1)
    y = to_centered(x, LEVELS, torch.float64)
    density = Gaussian(None, variance=1e-3).log_prob(y, y.unsqueeze(1))
    bpd = -density / (math.prod(SHAPE) * math.log(2))
    mean, se = float(bpd.mean()), float(bpd.std() / math.sqrt(len(bpd)))
    assert mean < math.log2(LEVELS) - 2 * se, mean
    binned = Gaussian(LEVELS, variance=1e-3).log_prob(x, y.unsqueeze(1))
    assert float((-binned).min()) >= 0.0  # the binned one is a probability: never below 0
