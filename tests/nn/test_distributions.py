"""Shared probability helpers against independent truth (normal CDF, torch.distributions)."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.nn.distributions import discretized_gaussian_log_likelihood, normal_kl


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretised_decoder_is_a_distribution_over_the_levels(levels):
    k = torch.arange(levels, dtype=torch.float64)
    x = -1 + 2 * k / (levels - 1)
    for mean, std in [(0.3, 0.2), (-0.97, 0.01), (1.5, 0.5), (0.0, 1e-3)]:
        logp = discretized_gaussian_log_likelihood(
            x,
            torch.tensor(mean, dtype=torch.float64),
            torch.tensor(std, dtype=torch.float64),
            levels,
        )
        assert abs(float(logp.exp().sum()) - 1.0) < 1e-9
        if levels < 3:
            continue
        # an inner bin against the normal CDF directly
        i = levels // 2
        half = 1 / (levels - 1)
        d = torch.distributions.Normal(mean, std)
        p = float(d.cdf(torch.tensor(x[i] + half)) - d.cdf(torch.tensor(x[i] - half)))
        if p > 1e-12:
            assert math.isclose(float(logp[i].exp()), p, rel_tol=1e-6, abs_tol=1e-12)


def test_normal_kl_against_torch_distributions():
    m1, v1, m2, v2 = (
        torch.tensor([0.3, -1.0]),
        torch.tensor([0.5, 2.0]),
        torch.tensor([1.0, 0.0]),
        torch.tensor([1.5, 0.1]),
    )
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, v1.sqrt()), torch.distributions.Normal(m2, v2.sqrt())
    )
    torch.testing.assert_close(normal_kl(m1, v1, m2, v2), ref)
