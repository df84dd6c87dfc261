"""Timestep proposal and stratified draws of the diffusion bound (bound.py), in float64,
against closed forms, frequency counts and Monte Carlo means."""

from __future__ import annotations

import pytest
import torch

from genlab.diffusion.bound import snr_proposal, stratified_timesteps
from genlab.diffusion.schedule import NoiseSchedule


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_proposal_is_the_snr_drop_over_one_plus_snr(kind):
    """From alpha_bar alone: SNR = abar / (1 - abar); power 1 gives sigma_t^2 dSNR."""
    sched = NoiseSchedule(kind, 100)
    abar = torch.cumprod(1 - sched.betas, 0)  # abar_t for t = 1..T
    snr = abar / (1 - abar)
    for start, power in [(2, 1.0), (5, 0.9), (100, 0.9)]:
        q = snr_proposal(sched, start, power)
        t = torch.arange(start, 101)
        want = torch.zeros(100, dtype=torch.float64)
        want[start - 1 :] = (snr[t - 2] - snr[t - 1]) / (1 + snr[t - 1]) ** power
        torch.testing.assert_close(q, want / want.sum())
        assert q.dtype == torch.float64 and torch.all(q[start - 1 :] > 0)
        assert float(q.sum()) == pytest.approx(1.0, abs=1e-12)
    w1 = (1 - abar[1:]) * (snr[:-1] - snr[1:])  # power 1: sigma_t^2 dSNR, t = 2..T
    torch.testing.assert_close(snr_proposal(sched, 2, 1.0)[1:], w1 / w1.sum())


def test_one_draw_per_stratum_with_inverse_proposal_weights():
    q = torch.tensor([0.0, 0.0, 0.5, 0.1, 0.1, 0.05, 0.25], dtype=torch.float64)
    k = 4
    t, w = stratified_timesteps(q, 3000, k, generator=torch.Generator().manual_seed(0))
    assert t.shape == w.shape == (3000, k) and t.dtype == torch.long
    assert int(t.min()) >= 3 and int(t.max()) <= 7  # never where q = 0
    torch.testing.assert_close(w, 1 / (k * q[t - 1]))
    cdf = torch.cumsum(q, 0)
    below = torch.cat([torch.zeros(1, dtype=torch.float64), cdf])[t - 1]  # F(t - 1)
    strata = torch.arange(k, dtype=torch.float64)
    # draw k lies in stratum [k/K, (k+1)/K): its t's CDF interval meets the stratum
    assert torch.all(below < (strata + 1) / k) and torch.all(cdf[t - 1] > strata / k)
    freq = torch.bincount(t.flatten(), minlength=8)[1:].double() / t.numel()
    torch.testing.assert_close(freq, q, atol=0.01, rtol=0)


def test_weighted_draws_are_unbiased_and_exact_for_terms_like_q():
    sched = NoiseSchedule("cosine", 200)
    q = snr_proposal(sched, start=4)
    f = torch.arange(1, 201, dtype=torch.float64).sqrt() * 50 * q + 1e-3  # any positive terms
    want = float(f[3:].sum())
    t, w = stratified_timesteps(q, 20000, 3, generator=torch.Generator().manual_seed(1))
    est = (w * f[t - 1]).sum(1)
    stderr = float(est.std()) / len(est) ** 0.5
    assert 0 < stderr and abs(float(est.mean()) - want) < 4 * stderr
    exact = (w * (7.0 * q)[t - 1]).sum(1)  # terms proportional to q: no variance at all
    torch.testing.assert_close(exact, torch.full_like(exact, 7.0))


def test_seeded_draws_repeat():
    q = snr_proposal(NoiseSchedule("cosine", 50))
    a = stratified_timesteps(q, 5, 4, generator=torch.Generator().manual_seed(3))
    b = stratified_timesteps(q, 5, 4, generator=torch.Generator().manual_seed(3))
    c = stratified_timesteps(q, 5, 4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
