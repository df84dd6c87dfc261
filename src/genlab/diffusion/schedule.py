"""The variance-preserving noise schedule of a Gaussian diffusion and its closed forms.

The forward process adds noise in T steps, ``q(x_i | x_{i-1}) = N(sqrt(1 - beta_i) x_{i-1},
beta_i I)``, so that with ``alpha_bar_t = prod_{i<=t} (1 - beta_i)`` (Ho et al. 2020, eq. 4)

    q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I),   alpha_t = sqrt(alpha_bar_t),
                                                   sigma_t^2 = 1 - alpha_bar_t.

Between any two times s < t (Kingma et al. 2021, VDM, sec. 3.1 and appendix A)

    q(x_t | x_s) = N(alpha_{t|s} x_s, sigma2_{t|s} I),  alpha_{t|s} = alpha_t / alpha_s,
                                                         sigma2_{t|s} = 1 - alpha_{t|s}^2,

and Bayes' rule gives the Gaussian posterior q(x_s | x_t, x_0) (Ho et al. 2020, eq. 6-7 for
s = t - 1; VDM appendix A for any s < t, which is what respaced samplers use):

    mean = alpha_{t|s} sigma_s^2 / sigma_t^2 x_t + alpha_s sigma2_{t|s} / sigma_t^2 x_0,
    var  = sigma2_{t|s} sigma_s^2 / sigma_t^2.

Time t = 0 is the data (``alpha_bar_0 = 1``, ``sigma_0 = 0``, log-SNR +inf). Buffers and
coefficients are float64; functions that act on a tensor x cast them to x's dtype at the end.
Float times t in [0, T] interpolate ``log alpha_bar`` linearly between integer steps, which is
exact at the integers and monotone in between (continuous-time access).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["NoiseSchedule", "ScheduleKind", "cosine_alpha_bar", "per_example"]

ScheduleKind = Literal["linear", "cosine"]


def cosine_alpha_bar(t: Tensor, steps: int, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal 2021, eq. 17: ``f(t) / f(0)`` with ``f(t) = cos^2((t/T + s)/(1 + s)
    pi/2)``, before any clipping of the betas. ``t`` any shape, float64 out."""
    t = t.to(torch.float64)
    f = torch.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    return f / f0


def per_example(c: Tensor, x: Tensor) -> Tensor:
    """A coefficient of shape (N,) or () -> broadcastable to x (N, ...), as (N, 1, ..., 1) or
    (), on x's device and in x's dtype (the float64 -> x.dtype cast happens here, last)."""
    c = c.to(device=x.device, dtype=x.dtype)
    if c.dim() == 0:
        return c
    return c.reshape(c.shape + (1,) * (x.dim() - c.dim()))


class NoiseSchedule(nn.Module):
    """Discrete-time VP schedule with T steps: ``betas`` (T,) with ``betas[i] = beta_{i+1}``,
    ``alpha_bar`` (T + 1,) with ``alpha_bar[0] = 1``, both float64 buffers.

    ``kind="linear"``: betas ``linspace(beta_start, beta_end, T)`` (Ho et al. 2020, sec. 4).
    ``kind="cosine"``: ``beta_t = min(1 - alpha_bar_t / alpha_bar_{t-1}, max_beta)`` with
    alpha_bar from eq. 17 of Nichol & Dhariwal 2021; ``alpha_bar`` is then the product of the
    clipped betas, so the closed form equals the one-step recursion exactly.

    Time arguments ``t`` are tensors of any shape: integer (0..T) or float ([0, T],
    continuous time). Keep this module in float64: ``.to(torch.float32)`` on a parent module
    would cast these buffers too and cost precision near t = 0 and t = T.
    """

    betas: Tensor
    alpha_bar: Tensor
    _log_alpha_bar: Tensor

    def __init__(
        self,
        kind: ScheduleKind = "cosine",
        steps: int = 1000,
        *,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        cosine_s: float = 0.008,
        max_beta: float = 0.999,
    ) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"schedule steps must be >= 1, got {steps}")
        if kind == "linear":
            if not 0 < beta_start <= beta_end < 1:
                raise ValueError(
                    f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}"
                )
            betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        elif kind == "cosine":
            ab = cosine_alpha_bar(torch.arange(steps + 1, dtype=torch.float64), steps, cosine_s)
            betas = (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)
        else:
            raise ValueError(f"unknown schedule kind {kind!r}; use 'linear' or 'cosine'")
        self.kind = kind
        self.T = steps
        log_ab = torch.cat([betas.new_zeros(1), torch.cumsum(torch.log1p(-betas), 0)])
        self.register_buffer("betas", betas)
        self.register_buffer("alpha_bar", log_ab.exp())
        self.register_buffer("_log_alpha_bar", log_ab, persistent=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, T={self.T}"

    def log_alpha_bar(self, t: Tensor) -> Tensor:
        """``log alpha_bar_t``, float64, same shape as t; linear in t between integer steps."""
        t = torch.as_tensor(t, device=self._log_alpha_bar.device)
        table = self._log_alpha_bar
        if not t.is_floating_point():
            return table[t]
        t = t.to(torch.float64).clamp(0, self.T)
        lo = t.floor().long().clamp(max=self.T - 1)
        frac = t - lo
        return torch.lerp(table[lo], table[lo + 1], frac)

    def d_log_alpha_bar(self, t: Tensor) -> Tensor:
        """d log alpha_bar / dt per timestep, float64, shaped like t: the slope of the
        linear piece t lies on (the piece above t at an integer t < T)."""
        t = torch.as_tensor(t, device=self._log_alpha_bar.device).to(torch.float64)
        lo = t.clamp(0, self.T).floor().long().clamp(max=self.T - 1)
        return self._log_alpha_bar[lo + 1] - self._log_alpha_bar[lo]

    def alpha(self, t: Tensor) -> Tensor:
        """``alpha_t = sqrt(alpha_bar_t)``, float64, same shape as t."""
        return torch.exp(0.5 * self.log_alpha_bar(t))

    def sigma(self, t: Tensor) -> Tensor:
        """``sigma_t = sqrt(1 - alpha_bar_t)``, float64, same shape as t (0 at t = 0)."""
        return torch.sqrt(-torch.expm1(self.log_alpha_bar(t)))

    def log_snr(self, t: Tensor) -> Tensor:
        """``lambda_t = log(alpha_t^2 / sigma_t^2)``, float64, decreasing in t; +inf at t = 0."""
        la = self.log_alpha_bar(t)
        return la - torch.log(-torch.expm1(la))

    def snr(self, t: Tensor) -> Tensor:
        """``alpha_t^2 / sigma_t^2``, float64 (inf at t = 0)."""
        return torch.exp(self.log_snr(t))

    def transition(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """``q(x_t | x_s) = N(alpha_{t|s} x_s, sigma2_{t|s})`` for s <= t: returns
        ``(alpha_{t|s}, sigma2_{t|s})`` in float64, shaped like ``t`` and ``s`` broadcast."""
        dla = self.log_alpha_bar(t) - self.log_alpha_bar(s)
        return torch.exp(0.5 * dla), -torch.expm1(dla)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = alpha_t x0 + sigma_t noise``; x0, noise (N, ...), t (N,) or () -> (N, ...)
        in x0's dtype (Ho et al. 2020, eq. 4)."""
        return per_example(self.alpha(t), x0) * x0 + per_example(self.sigma(t), x0) * noise

    def q_mean_var(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (N, ...) and variance (N, 1, ..., 1) of ``q(x_t | x_0)``, in x0's dtype."""
        var = -torch.expm1(self.log_alpha_bar(t))
        return per_example(self.alpha(t), x0) * x0, per_example(var, x0)

    def posterior(self, x_t: Tensor, x0: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (N, ...) and variance (N, 1, ..., 1) of ``q(x_s | x_t, x_0)`` for
        ``0 <= s < t``; t and s (N,) or (). s = 0 gives mean x0 and variance 0.

        Ho et al. 2020, eq. 6-7 (s = t - 1); Kingma et al. 2021 (VDM), appendix A (any s < t).
        """
        alpha_ts, sigma2_ts = self.transition(t, s)
        sigma2_s = -torch.expm1(self.log_alpha_bar(s))
        sigma2_t = -torch.expm1(self.log_alpha_bar(t))
        c_xt = alpha_ts * sigma2_s / sigma2_t
        c_x0 = self.alpha(s) * sigma2_ts / sigma2_t
        mean = per_example(c_xt, x_t) * x_t + per_example(c_x0, x0) * x0
        return mean, per_example(sigma2_ts * sigma2_s / sigma2_t, x_t)
