"""Options of the ``diffusion`` family (``model.KEY=VALUE`` on the command line), each
with its valid range next to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import check_fields, ranged

__all__ = ["DiffusionConfig"]


@dataclass(frozen=True)
class DiffusionConfig:
    """Options of the ``diffusion`` family (``model.KEY=VALUE`` on the command line)."""

    schedule: Literal["cosine", "linear"] = "cosine"
    timesteps: int = ranged(1000, lambda v: v >= 1, "at least 1")  # T
    prediction: Literal["eps", "x0", "v"] = "v"  # well-conditioned x_0 at every t (see README)
    # min-SNR-gamma loss weights (Hang et al. 2023)
    min_snr: float = ranged(5.0, lambda v: v >= 0, "at least 0 (0: plain MSE)")
    # U-Net channels at full resolution (1.04M parameters on digits)
    channels: int = ranged(24, lambda v: v >= 1, "at least 1")
    # channel multiplier per resolution level
    multipliers: tuple[int, ...] = ranged(
        (1, 2, 3), lambda v: len(v) >= 1 and min(v) >= 1, "one or more, each at least 1"
    )
    blocks: int = ranged(1, lambda v: v >= 1, "at least 1")  # residual blocks per level
    # levels with self-attention; each below len(multipliers), checked by the builder
    attention: tuple[int, ...] = ranged((2,), lambda v: all(a >= 0 for a in v), "each at least 0")
    dropout: float = ranged(0.1, lambda v: 0 <= v < 1, "in [0, 1)")
    conditional: bool = False  # class labels, with classifier-free guidance
    # label dropped to "no label" with this probability
    p_uncond: float = ranged(0.1, lambda v: 0 <= v <= 1, "in [0, 1]")
    sampler: Literal["ddpm", "ddim", "dpmpp", "oneshot"] = "dpmpp"  # default for sample()
    # network evaluations of the default sampler
    sample_steps: int = ranged(20, lambda v: v >= 1, "at least 1")
    # classifier-free guidance scale (1: plain conditional)
    guidance: float = ranged(1.0, lambda v: v >= 0, "at least 0 (1: plain conditional)")
    clip: bool = True  # clip x_0 estimates to [-1, 1] while sampling
    # nll(): timesteps 1..nll_exact summed exactly (t = 1 is the decoder L_0, whose size
    # the schedule does not predict: 1.3 of 4.4 bits/dim on Fashion-MNIST), the rest from
    # nll_timesteps draws per image, stratified importance sampling (bound.py), unbiased;
    # 0: all T exactly. Passes per image: nll_exact + nll_timesteps. Runs saved before
    # this estimator (100, 32) give the same bound with it at their old cost, 132 passes
    # Monte Carlo sd 0.15 bits/dim per Fashion-MNIST image
    nll_timesteps: int = ranged(6, lambda v: v >= 0, "at least 0 (0: all T exactly)")
    nll_exact: int = ranged(1, lambda v: v >= 1, "at least 1")
    # nll()'s decoder L_0: "beta" N(x0_hat, beta_1) (Ho et al. 2020; its fixed std imposes a
    # floor, bound.py), "fitted" its std fitted on training images after training (one for
    # end-bin pixels, one for the rest; genlab eval fits it on 1000 train images)
    nll_decoder: Literal["beta", "fitted"] = "beta"
    # nll(): "bound" the variational bound above, or "ode" log p through the probability-
    # flow ODE (Song et al. 2021, eq. 13) from timestep nll_t_min (the network extended to
    # float times below 1) on uniformly dequantized data with nll_draws importance-weighted
    # draws (genlab.ode.likelihood); nll_solver, nll_tolerance (dopri5's rtol = atol),
    # nll_steps and nll_spacing (fixed-grid solvers), nll_divergence and nll_probes as in flowmatch
    nll_method: Literal["bound", "ode"] = "bound"
    nll_solver: Literal["euler", "midpoint", "heun", "rk4", "dopri5"] = "dopri5"
    nll_tolerance: float = ranged(1e-4, lambda v: 0 < v < 1, "in (0, 1)")
    nll_steps: int = ranged(20, lambda v: v >= 1, "at least 1")
    nll_spacing: float = ranged(1.0, lambda v: 0 < v <= 8, "in (0, 8]")
    nll_divergence: Literal["exact", "hutchinson"] = "hutchinson"
    nll_probes: int = ranged(1, lambda v: v >= 1, "at least 1")
    nll_draws: int = ranged(1, lambda v: v >= 1, "at least 1")
    nll_t_min: float = ranged(0.1, lambda v: 0 < v < 1, "in (0, 1) timesteps")
    # validation_nll(): the same estimator, fewer draws
    val_timesteps: int = ranged(2, lambda v: v >= 1, "at least 1")

    def __post_init__(self) -> None:
        check_fields(self, "model.")
