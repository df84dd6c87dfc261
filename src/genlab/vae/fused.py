"""The discretized logistic log-likelihood with a hand-written gradient.

Autograd through :meth:`DiscretizedLogistic.log_prob` keeps a dozen temporaries the size
of the image batch and runs a backward op for each forward one: on a CPU, where an MLP
decoder's matrix products are cheap, those passes and their page faults cost as much as
the decoder (benchmarks/speed.py, ``vae-mlp``). This function computes both derivatives
in its forward pass, from the intermediates log P needs anyway, keeps only those two
tensors, and its backward scales them by the incoming gradient.

With ``s = exp(log s)``, ``h = 1 / (L - 1)``, ``u_a = (x - h - m) / s``, ``c = -2h / s``
and ``u_b = (m - x - h) / s``, per dimension

    log P = -softplus(u_a) [k > 0] - softplus(u_b) [k < L-1] + log(1 - e^c) [0 < k < L-1]

and, with ``d softplus(u) / du = sigmoid(u)``, ``du_a / dm = -1/s``, ``du_b / dm = 1/s``,
``du / d log s = -u`` and ``d log(1 - e^c) / d log s = c / expm1(-c)``:

    d log P / dm     = (sigmoid(u_a) [k > 0] - sigmoid(u_b) [k < L-1]) / s
    d log P / d log s = sigmoid(u_a) u_a [k > 0] + sigmoid(u_b) u_b [k < L-1]
                        + c / expm1(-c) [0 < k < L-1]

(tests/vae/test_likelihoods.py checks both against autograd in float64).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["discretized_logistic_log_prob"]


def _log_prob(
    m: torch.Tensor,
    log_s: torch.Tensor,
    k: torch.Tensor,
    levels: int,
    min_log_scale: float | None,
    grads: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """Elementwise log P, and with ``grads`` its derivatives in m and log s (they share
    every intermediate, so one pass gives all three)."""
    # every temporary is the size of the batch: in-place ops keep their number (and the
    # page faults of fresh ones) down
    h = 1.0 / (levels - 1)
    neg = log_s.neg() if min_log_scale is None else log_s.clamp(min=min_log_scale).neg_()
    inv_s = neg.exp_()
    kf = k.to(m.dtype)
    nf, nl = kf.clamp(max=1.0), kf.neg().add_(levels - 1).clamp_(max=1.0)  # [k > 0], [k < L-1]
    inner = nf * nl
    # edges from integers, so the upper edge of bin k is bitwise the lower edge of k + 1
    # (u_b as c - u_a would differ by a rounding that 1/s can blow up to a whole bin)
    two_k = kf.mul_(2.0)
    lower = (two_k - 1.0).mul_(h).sub_(1.0)
    upper = two_k.add_(1.0).mul_(h).sub_(1.0)
    u_a = torch.sub(lower, m).mul_(inv_s)  # (lower - m) / s, broadcast to m's shape
    u_b = torch.sub(m, upper).mul_(inv_s)  # (m - upper) / s
    c = inv_s.mul_(-2.0 * h)  # inv_s is c = -2h / s from here on
    q = torch.expm1(c).neg_()  # 1 - e^c, in (0, 1]
    lp = torch.log(q).mul_(inner)
    lp.addcmul_(F.softplus(u_a, threshold=40.0), nf, value=-1.0)
    lp.addcmul_(F.softplus(u_b, threshold=40.0), nl, value=-1.0)
    if not grads:
        return lp, None
    sa = torch.sigmoid(u_a).mul_(nf)
    sb = torch.sigmoid(u_b).mul_(nl)
    # d log(1 - e^c) / d log s = c e^c / (1 - e^c), with e^c = 1 - q
    d_ls = (1.0 - q).mul_(c).div_(q).mul_(inner)
    d_ls.addcmul_(sa, u_a).addcmul_(sb, u_b)
    if min_log_scale is not None:
        d_ls.mul_(log_s >= min_log_scale)  # clamp's gradient: none below the floor
    d_m = sa.sub_(sb).mul_(c).mul_(-0.5 / h)  # (sa - sb) / s
    return lp, (d_m, d_ls)


class _LogProb(torch.autograd.Function):
    """Forward computes log P and both derivatives; backward only scales them."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        m: torch.Tensor,
        log_s: torch.Tensor,
        k: torch.Tensor,
        levels: int,
        min_log_scale: float | None,
        data_dims: int,
    ) -> torch.Tensor:
        lp, d = _log_prob(m, log_s, k, levels, min_log_scale, grads=True)
        assert d is not None
        ctx.save_for_backward(*d)
        ctx.data_dims = data_dims
        return _sum_data(lp, data_dims)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        d_m, d_ls = ctx.saved_tensors
        g = grad.reshape(*grad.shape, *[1] * ctx.data_dims)
        return d_m * g, d_ls * g, None, None, None, None


def _sum_data(lp: torch.Tensor, data_dims: int) -> torch.Tensor:
    return lp.flatten(start_dim=lp.dim() - data_dims).sum(-1)


def discretized_logistic_log_prob(
    m: torch.Tensor,
    log_s: torch.Tensor,
    k: torch.Tensor,
    levels: int,
    min_log_scale: float | None,
) -> torch.Tensor:
    """log P(k) in nats, summed over k's data dimensions: m and log s (*B, N, *S), level
    indices k (N, *S) broadcast against them; returns (*B, N). ``min_log_scale`` clamps
    log s from below (no gradient where it binds). Without a gradient to track (no_grad,
    inference, or inputs that need none) the derivatives are not computed."""
    data_dims = k.dim() - 1
    if torch.is_grad_enabled() and (m.requires_grad or log_s.requires_grad):
        return _LogProb.apply(m, log_s, k, levels, min_log_scale, data_dims)
    return _sum_data(_log_prob(m, log_s, k, levels, min_log_scale, grads=False)[0], data_dims)
