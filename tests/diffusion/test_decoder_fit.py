"""The bound's decoder L_0 with fitted stds (``model.nll_decoder=fitted``): the fit against
the maximum-likelihood std of known Gaussian errors, the end-bin / rest split, its use in
``nll``, the refusal before fitting and the statement of what was fitted."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data import DataMeta, load_dataset
from genlab.diffusion import DiffusionConfig, build_diffusion
from genlab.diffusion.bound import STD_GRID, decoder_std, fit_decoder_std
from genlab.errors import GenlabError
from genlab.nn.distributions import discretized_gaussian_log_likelihood
from genlab.protocols import FitsNLL

LEVELS = 256
WIDTH = 2.0 / (LEVELS - 1)
BETA_1 = 0.0064**2  # about the cosine schedule's at T = 1000


def interior(n: int, seed: int) -> torch.Tensor:
    """Levels 20..235 centred in [-1, 1], far from the end bins."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(20, LEVELS - 20, (n,), generator=g)
    return (-1 + 2 * k / (LEVELS - 1)).double()


def test_fitted_std_is_the_spread_of_gaussian_errors():
    """x0_hat = x0 + e, e ~ N(0, s^2) with s = 4 bin widths: the binned likelihood is
    nearly the density, whose maximiser is s; the fit lands within one grid step."""
    x0 = interior(200_000, 0)
    s = 4 * WIDTH
    e = s * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=x0.dtype)
    _, rest = fit_decoder_std(x0, x0 + e, LEVELS, BETA_1)
    assert abs(math.log(rest / s)) <= math.log(2) / 4 + 1e-9, rest / s


def test_exact_predictions_get_the_smallest_std_and_no_floor():
    """A perfect x0_hat: the smallest std on the grid, and L_0 ~ 0 bits, where beta_1's
    std (wider than half a bin) costs ~1.1 bits an interior pixel: the floor."""
    x0 = interior(10_000, 2)
    end, rest = fit_decoder_std(x0, x0.clone(), LEVELS, BETA_1)
    assert rest == pytest.approx(WIDTH * STD_GRID[0])
    fitted = -discretized_gaussian_log_likelihood(x0, x0, torch.tensor(rest), LEVELS).mean()
    fixed = -discretized_gaussian_log_likelihood(x0, x0, torch.tensor(BETA_1**0.5), LEVELS).mean()
    assert float(fitted) / math.log(2) < 1e-6
    assert float(fixed) / math.log(2) == pytest.approx(
        -math.log2(math.erf(WIDTH / 2 / 0.0064 / 2**0.5)), rel=1e-3
    )
    assert end == pytest.approx(BETA_1**0.5)  # no pixel in an end bin: beta_1's kept


def test_end_bins_and_the_rest_are_fitted_apart():
    """Background pixels predicted exactly at -1, interior ones with errors of 3 bin
    widths: a tiny std for the first, ~3 widths for the rest; decoder_std maps them."""
    inner = interior(50_000, 3)
    e = 3 * WIDTH * torch.randn(inner.shape, generator=torch.Generator().manual_seed(4)).double()
    x0 = torch.cat([torch.full((50_000,), -1.0).double(), inner])
    x0_hat = torch.cat([torch.full((50_000,), -1.0).double(), (inner + e).clamp(-0.99, 0.99)])
    end, rest = fit_decoder_std(x0, x0_hat, LEVELS, BETA_1)
    assert end < 0.1 * WIDTH and 2.5 * WIDTH < rest < 3.6 * WIDTH
    std = decoder_std(x0_hat, LEVELS, (end, rest))
    assert torch.all(std[:50_000] == end) and torch.all(std[50_000:] == rest)


def tiny(**kw: object) -> DiffusionConfig:
    base = {"timesteps": 50, "channels": 8, "multipliers": (1, 2), "attention": (1,)}
    return DiffusionConfig(**(base | kw))  # type: ignore[arg-type]


def test_model_fits_on_train_images_then_scores_with_it():
    meta = DataMeta("digits", (1, 8, 8), 17, 10)
    data = load_dataset("digits")
    torch.manual_seed(0)
    fixed = build_diffusion(tiny(), meta).eval()
    fitted = build_diffusion(tiny(nll_decoder="fitted"), meta).eval()
    fitted.load_state_dict(fixed.state_dict())  # the same weights: no new tensor saved
    assert isinstance(fitted, FitsNLL)
    x = data.test.x[:50]
    with pytest.raises(GenlabError, match="fit the decoder on training images first"):
        fitted.nll(x)
    fitted.fit_nll(data.train.x[:300], generator=torch.Generator().manual_seed(0))
    end, rest = fitted.decoder_stds
    record = fitted.nll_estimator()
    assert record["decoder_std_end"] == end and record["decoder_std_rest"] == rest
    assert "fitted on 300 train images" in record["decoder"]
    assert "fixed std" in fixed.nll_estimator()["decoder"]
    with torch.no_grad():  # L_0 alone, the same x_1 draws: the fit's choice is what scores
        one = torch.ones(1, dtype=torch.long)
        g = torch.Generator()
        a = fitted.vlb_terms(x, one, generator=g.manual_seed(5), decoder=fitted.decoder_stds)
        b = fixed.vlb_terms(x, one, generator=g.manual_seed(5))
        c = fitted.nll(x, generator=g.manual_seed(6))
    assert a.shape == b.shape == (50, 1) and not torch.equal(a, b)
    assert torch.isfinite(c).all() and torch.all(c > 0)
    fixed.fit_nll(data.train.x[:10])  # nll_decoder=beta: nothing to fit
    assert fixed.decoder_stds is None
