"""What the denoising network predicts, and the conversions between the predictions.

With ``x_t = alpha x0 + sigma eps`` and ``alpha^2 + sigma^2 = 1`` the network can predict
the noise eps (Ho et al. 2020), the data x0, or the velocity ``v = alpha eps - sigma x0``
(Salimans & Ho 2022, sec. 4 and appendix D); each determines the other two given x_t:

    eps -> x0:  x0 = (x_t - sigma eps) / alpha        x0 -> eps:  eps = (x_t - alpha x0) / sigma
    v -> x0:    x0 = alpha x_t - sigma v              v -> eps:   eps = sigma x_t + alpha v

``alpha`` and ``sigma`` are tensors broadcastable to x (e.g. (N, 1, ..., 1) from
``schedule.per_example``); they are cast to x's dtype, so results keep x's dtype.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

__all__ = [
    "PREDICTIONS",
    "Prediction",
    "eps_from",
    "min_snr_weight",
    "target",
    "v_from",
    "x0_from",
]

Prediction = Literal["eps", "x0", "v"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)


def _check(kind: str) -> None:
    if kind not in PREDICTIONS:
        raise ValueError(f"unknown prediction {kind!r}; use one of {', '.join(PREDICTIONS)}")


def _as(c: Tensor, x: Tensor) -> Tensor:
    return torch.as_tensor(c, device=x.device, dtype=x.dtype)


def v_from(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """``v = alpha eps - sigma x0`` (Salimans & Ho 2022, sec. 4); (N, ...) -> (N, ...)."""
    return _as(alpha, x0) * eps - _as(sigma, x0) * x0


def target(kind: Prediction, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The regression target (N, ...) of a network predicting ``kind`` at ``x_t = alpha x0 +
    sigma eps``."""
    _check(kind)
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    return v_from(x0, eps, alpha, sigma)


def x0_from(kind: Prediction, pred: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The x0 estimate (N, ...) implied by a ``kind`` prediction ``pred`` (N, ...) at x_t."""
    _check(kind)
    a, s = _as(alpha, x_t), _as(sigma, x_t)
    if kind == "eps":
        return (x_t - s * pred) / a
    if kind == "x0":
        return pred
    return a * x_t - s * pred


def eps_from(kind: Prediction, pred: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The eps estimate (N, ...) implied by a ``kind`` prediction ``pred`` (N, ...) at x_t."""
    _check(kind)
    a, s = _as(alpha, x_t), _as(sigma, x_t)
    if kind == "eps":
        return pred
    if kind == "x0":
        return (x_t - a * pred) / s
    return s * x_t + a * pred


def min_snr_weight(kind: Prediction, snr: Tensor, gamma: float) -> Tensor:
    """Min-SNR-gamma loss weight (Hang et al. 2023, sec. 3) for the MSE of a ``kind``
    prediction, any shape as ``snr``.

    An error e in x0 is an error ``-e alpha / sigma`` in eps and ``-e / sigma`` in v, so
    ``|e_eps|^2 = snr |e|^2`` and ``|e_v|^2 = (snr + 1) |e|^2``; the weights make every
    kind's weighted loss equal ``min(snr, gamma) |e|^2``: eps ``min(snr, gamma) / snr``,
    x0 ``min(snr, gamma)``, v ``min(snr, gamma) / (snr + 1)``.
    """
    _check(kind)
    clipped = snr.clamp(max=gamma)
    if kind == "eps":
        return clipped / snr
    if kind == "x0":
        return clipped
    return clipped / (snr + 1)
