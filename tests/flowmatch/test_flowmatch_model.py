"""The flow-matching model against analytic truth: with the exact marginal velocity of
Gaussian pixels in place of the network, every solver's samples have the data's mean and
spread, NFE is what was asked for, the loss is smallest at the exact velocity, and the
ODE likelihood gives the Gaussian's bin probabilities."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.data import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError, GenlabError
from genlab.flowmatch import FlowMatchConfig, FlowMatchModel, build_flowmatch
from genlab.flowmatch.model import TIME_SCALE
from genlab.ode.paths import AffinePath

META = DataMeta(name="gauss-pixels", shape=(1, 4, 4), levels=256, num_classes=None)
MU, S = 0.1, 0.3  # every pixel ~ N(MU, S^2) in model space


class ExactVelocity(nn.Module):
    """The marginal velocity of N(MU, S^2) pixels on ``path`` as a 'network' (x, 1000 t, y)."""

    def __init__(self, path: AffinePath, scale: float = 1.0) -> None:
        super().__init__()
        self.path, self.scale = path, scale
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        k = self.path.at(t.double() / TIME_SCALE)
        a, s = (c.view(-1, 1, 1, 1).to(x) for c in (k.alpha, k.sigma))
        da, ds = (c.view(-1, 1, 1, 1).to(x) for c in (k.d_alpha, k.d_sigma))
        var = a**2 * S**2 + s**2
        x0 = MU + a * S**2 / var * (x - a * MU)
        eps = s / var * (x - a * MU)
        return self.scale * (da * x0 + ds * eps) + 0 * self.dummy.detach()


def model(kind: str = "linear", **cfg: object) -> FlowMatchModel:
    config = FlowMatchConfig(path=kind, clip=False, **cfg)  # type: ignore[arg-type]
    return FlowMatchModel(ExactVelocity(AffinePath(kind)), META, config).eval()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize(
    ("solver", "nfe"), [("euler", 40), ("heun", 20), ("rk4", 20), ("dpmpp", 20), ("dopri5", 0)]
)
def test_samples_of_the_exact_velocity_have_the_data_statistics(kind, solver, nfe):
    m = model(kind)
    g = torch.Generator().manual_seed(0)
    x, used, _ = m.generate(4000, generator=g, solver=solver, nfe=nfe or None)
    se_mean = S / math.sqrt(x.numel())
    assert abs(float(x.mean()) - MU) < 4 * se_mean + 0.01, (solver, float(x.mean()))
    assert abs(float(x.std()) - S) < 0.02, (solver, float(x.std()))
    if solver != "dopri5":
        assert used == nfe


def test_a_wrong_velocity_gives_wrong_samples():
    """Planted: a velocity 20% too large moves the samples' spread far off."""
    m = FlowMatchModel(ExactVelocity(AffinePath("linear"), 1.2), META, FlowMatchConfig(clip=False))
    x, _, _ = m.eval().generate(
        4000, generator=torch.Generator().manual_seed(0), solver="rk4", nfe=20
    )
    assert abs(float(x.std()) - S) > 0.05


def test_the_loss_is_smallest_at_the_exact_velocity():
    """Gaussian pixels (quantized finely, 256 levels), on which ExactVelocity is the
    loss's minimiser: a velocity 20% too small scores higher on the same draws."""
    g = torch.Generator().manual_seed(0)
    x0 = (MU + S * torch.randn(512, *META.shape, generator=g)).clamp(-1, 1)
    levels = ((x0 + 1) / 2 * 255).round().long()
    exact = model("linear", time_sampling="uniform")
    off = FlowMatchModel(ExactVelocity(AffinePath("linear"), 0.8), META, exact.config)
    torch.manual_seed(1)
    l_exact = float(exact.loss(levels)[0])
    torch.manual_seed(1)
    l_off = float(off.loss(levels)[0])
    assert l_exact < l_off


def test_flowmatch_and_diffusion_share_the_network_on_large_images():
    """The comparison of the two families rests on one U-Net and batch: their data
    defaults for 28x28 images must agree on every network and batch key."""
    from genlab.family import get_family

    meta = DataMeta("fashion-like", (1, 28, 28), 256, 10)
    fm = get_family("flowmatch").data_defaults(meta, 60_000)
    diff = get_family("diffusion").data_defaults(meta, 60_000)
    shared = {k for k in fm.keys() | diff.keys() if not k.startswith("model.nll_")}
    assert shared and {k: fm.get(k) for k in shared} == {k: diff.get(k) for k in shared}
    assert "model.channels" in shared and "train.batch_size" in shared


def test_ode_likelihood_matches_the_gaussian_bin_probability():
    m = model("linear", nll_divergence="exact", nll_tolerance=1e-6)
    g = torch.Generator().manual_seed(0)
    x0 = (MU + S * torch.randn(64, *META.shape, generator=g)).clamp(-0.99, 0.99)
    k = ((x0 + 1) / 2 * 255).round().long()
    nll = m.nll(k)  # nats per image
    centres = to_centered(k, 256, torch.float64)
    w = 2 / 255
    normal = torch.distributions.Normal(torch.tensor(MU, dtype=torch.float64), S)
    exact = -torch.log(normal.cdf(centres + w / 2) - normal.cdf(centres - w / 2)).flatten(1).sum(1)
    # one uniform draw: above the exact value in mean, by about the bin's curvature only
    gap = float((nll - exact).mean())
    assert -0.05 < gap < 0.5, gap
    assert m.nll_estimator()["K"] == 1 and m.nll_estimator()["solver"] == "dopri5"


def test_nfe_that_does_not_fit_the_solver_is_one_clear_error():
    with pytest.raises(GenlabError, match="multiple of 4"):
        model().generate(2, solver="rk4", nfe=10)


def test_conditional_model_with_guidance_samples_each_label():
    meta = DataMeta(name="digits-like", shape=(1, 8, 8), levels=17, num_classes=10)
    cfg = FlowMatchConfig(conditional=True, channels=8, multipliers=(1, 2), attention=())
    m = build_flowmatch(cfg, meta).eval()
    x = m.sample(3, label=4, guidance=2.0, solver="euler", nfe=3)
    assert x.shape == (3, 1, 8, 8) and x.min() >= 0 and x.max() <= 16
    with pytest.raises(GenlabError, match="needs labels"):
        m.train().loss(torch.zeros(2, 1, 8, 8, dtype=torch.long))


def test_vector_data_get_the_mlp_and_an_exact_density():
    """Untrained, the velocity MLP is zero (its last layer starts at zero): the flow is the
    identity and -log p(x) must be exactly -log N(x; 0, I), with no dequantization."""
    from genlab.nn.velocity import VectorVelocity

    meta = DataMeta(name="toy2d:moons", shape=(2,), levels=None, num_classes=None)
    cfg = FlowMatchConfig(nll_divergence="exact", clip=False)
    m = build_flowmatch(cfg, meta).eval()
    assert isinstance(m.network, VectorVelocity)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    normal = torch.distributions.Normal(0.0, 1.0)
    torch.testing.assert_close(
        m.nll(x).double(), -normal.log_prob(x).sum(1).double(), atol=1e-5, rtol=0
    )
    assert m.nll_estimator()["estimator"].endswith("density of continuous data")
    assert m.sample(5).shape == (5, 2)
    with pytest.raises(ConfigError, match="vector data are unconditional"):
        build_flowmatch(FlowMatchConfig(conditional=True), DataMeta("v", (2,), None, 3))
