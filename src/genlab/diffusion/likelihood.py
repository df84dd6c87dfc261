"""The variational bound of a diffusion model (Ho et al. 2020, eq. 5), in nats per example,
as a mixin of :class:`~genlab.diffusion.model.DiffusionModel`: its terms, the estimator
(importance-sampled timesteps, bound.py) and its statement, and the decoder L_0 with the
fixed std of beta_1 or stds fitted on training images (``model.nll_decoder``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from genlab.diffusion.bound import (
    ERROR_POWER,
    decoder_std,
    fit_decoder_std,
    snr_proposal,
    stratified_timesteps,
)
from genlab.diffusion.flow_ode import ode_nll, ode_statement
from genlab.diffusion.samplers.base import noise_like
from genlab.errors import GenlabError
from genlab.nn import distributions as vlb

if TYPE_CHECKING:
    from genlab.diffusion.config import DiffusionConfig
    from genlab.diffusion.schedule import NoiseSchedule

__all__ = ["VariationalBound"]


class VariationalBound:
    """``nll``, ``validation_nll``, ``fit_nll`` and ``nll_estimator`` of a model that has
    ``schedule``, ``config``, ``levels``, ``num_classes``, ``predict_x0``, ``_to_model``
    and ``_null`` (the diffusion model)."""

    schedule: NoiseSchedule
    config: DiffusionConfig
    levels: int | None
    num_classes: int
    # (end-bin, other) decoder stds of nll_decoder=fitted, set by fit_nll: not weights
    decoder_stds: tuple[float, float] | None = None
    decoder_fit_images: int = 0
    last_ode_nfe: int = 0  # NFE of the latest nll() solve with nll_method=ode
    predict_x0: Any
    _to_model: Any
    _null: Any
    parameters: Any

    def vlb_terms(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        decoder: tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """Per-example terms (N, K) in nats at timesteps ``t`` (long, in 1..T), shared
        (K,) or per example (N, K): ``L_0 = -log p(x_0 | x_1)`` at t = 1 and ``L_{t-1}``
        (a Gaussian KL) at t >= 2, each from its own draw of x_t; one network call of N
        images per column. ``decoder``: fitted (end-bin, other) stds of L_0 (None:
        sqrt(beta_1))."""
        if self.levels is None:
            raise GenlabError("the diffusion bound is defined here for discrete data only")
        x0 = self._to_model(x)
        n = x0.shape[0]
        t = t.to(x0.device).long()
        t = t.expand(n, -1) if t.dim() == 1 else t
        assert t.shape[0] == n and t.dim() == 2, (tuple(t.shape), n)
        terms = [self._terms(x0, t[:, k], generator, decoder) for k in range(t.shape[1])]
        return torch.stack(terms, 1)

    def _terms(
        self,
        x0: torch.Tensor,
        t: torch.Tensor,
        generator: torch.Generator | None,
        decoder: tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """x0 (N, ...) in model space, t (N,) long -> one term per example (N,) in nats."""
        x_t = self.schedule.q_sample(x0, t, noise_like(x0, generator))
        x0_hat = self.predict_x0(x_t, t, self._null(x0, self.num_classes)).clamp(-1, 1)
        out = torch.empty(len(t), dtype=x0.dtype, device=x0.device)
        first, later = t == 1, t >= 2
        if first.any():  # decoder N(x0_hat, beta_1), Ho et al. 2020 eq. 13, or fitted stds
            mean = x0_hat[first]
            std = self.schedule.betas[0].sqrt().to(x0.dtype)
            std = std if decoder is None else decoder_std(mean, self.levels, decoder)
            ll = vlb.discretized_gaussian_log_likelihood(x0[first], mean, std, self.levels)
            out[first] = -vlb.sum_per_example(ll)
        if later.any():
            tt, xt, a, b = t[later], x_t[later], x0[later], x0_hat[later]
            mean, var = self.schedule.posterior(xt, a, tt, tt - 1)
            mean_hat, _ = self.schedule.posterior(xt, b, tt, tt - 1)
            out[later] = vlb.sum_per_example(vlb.normal_kl(mean, var, mean_hat, var))
        return out

    def prior_term(self, x: torch.Tensor) -> torch.Tensor:
        """``L_T = KL(q(x_T | x_0) || N(0, I))`` per example (N,), in nats."""
        x0 = self._to_model(x)
        tt = torch.full((x0.shape[0],), self.schedule.T, dtype=torch.long, device=x0.device)
        mean, var = self.schedule.q_mean_var(x0, tt)
        var = var.to(x0.dtype).expand_as(x0)
        return vlb.sum_per_example(
            vlb.normal_kl(mean, var, torch.zeros_like(mean), torch.ones_like(var))
        )

    def nll(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The variational bound on -log P(x) in nats per example (N,): L_T in closed form,
        timesteps 1..``nll_exact`` exactly (t = 1 is L_0), the rest from ``nll_timesteps``
        stratified importance-sampled draws per image (``bound.py``; unbiased), or all T
        terms exactly when ``nll_timesteps`` is 0. See :meth:`nll_estimator`. With
        ``nll_decoder=fitted`` the decoder's stds come from :meth:`fit_nll`, called first."""
        if self.config.nll_method == "ode":
            nll, self.last_ode_nfe = ode_nll(self, x)  # type: ignore[arg-type]
            return nll.to(x.device)
        decoder = None
        if self.config.nll_decoder == "fitted":
            if self.decoder_stds is None:
                raise GenlabError(
                    "model.nll_decoder=fitted: fit the decoder on training images first "
                    "(model.fit_nll(train_x); genlab eval does it)"
                )
            decoder = self.decoder_stds
        return self._bound(x, self.config.nll_timesteps, generator, decoder)

    @torch.no_grad()
    def fit_nll(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> None:
        """With ``nll_decoder=fitted``: fit the decoder's stds (:func:`~.bound.fit_decoder_std`)
        on ``x``, training images (never test), from x0_hat at t = 1 as :meth:`nll` draws
        it; otherwise nothing."""
        if self.config.nll_decoder != "fitted" or self.levels is None:
            return
        device = next(self.parameters()).device
        pairs = []
        for part in x.split(250):
            x0 = self._to_model(part.to(device))
            one = torch.ones(len(x0), dtype=torch.long, device=device)
            x1 = self.schedule.q_sample(x0, one, noise_like(x0, generator))
            pairs.append((x0, self.predict_x0(x1, one, self._null(x0, self.num_classes))))
        x0, x0_hat = (torch.cat(p) for p in zip(*pairs, strict=True))
        beta_1 = float(self.schedule.betas[0])
        self.decoder_stds = fit_decoder_std(x0, x0_hat.clamp(-1, 1), self.levels, beta_1)
        self.decoder_fit_images = len(x)

    def validation_nll(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """:meth:`nll` with ``val_timesteps`` draws per image (N,) nats: the same unbiased
        estimate, noisier, at ``nll_exact + val_timesteps`` network passes per image."""
        return self._bound(x, self.config.val_timesteps, generator)

    def nll_estimator(self) -> dict[str, object]:
        """How :meth:`nll` estimates the bound, JSON-able, for writing next to its value."""
        T, cfg = self.schedule.T, self.config
        if cfg.nll_method == "ode":
            return ode_statement(self, self.last_ode_nfe)  # type: ignore[arg-type]
        k, exact = cfg.nll_timesteps, min(T, cfg.nll_exact)
        every = k == 0 or k >= T - exact
        out: dict[str, object] = {
            "estimator": "variational bound (Ho et al. 2020, eq. 5), nats per example",
            "prior": "L_T in closed form",
            "unbiased": True,
            "network_passes_per_image": T if every else exact + k,
        } | self._decoder_statement()
        if every:
            return out | {"timesteps": f"all {T} summed exactly"}
        return out | {
            "exact_timesteps": f"1..{exact}",
            "timesteps_per_image": k,
            "proposal": f"q(t) ~ (SNR(t-1) - SNR(t)) / (1 + SNR(t))^{ERROR_POWER}, "
            f"t = {exact + 1}..{T}",
            "sampling": f"per image one t in each of {k} strata of equal q mass, "
            "weight 1 / (K q(t))",
            "validation_timesteps_per_image": cfg.val_timesteps,
        }

    def _decoder_statement(self) -> dict[str, object]:
        std = float(self.schedule.betas[0].sqrt())
        if self.config.nll_decoder != "fitted" or self.decoder_stds is None:
            return {"decoder": f"N(x0_hat, beta_1), fixed std {std:.4g} (Ho et al. 2020)"}
        end, rest = self.decoder_stds
        return {
            "decoder": f"N(x0_hat, std^2), std fitted on {self.decoder_fit_images} train "
            f"images: {end:.4g} for end-bin pixels, {rest:.4g} for the rest (beta_1's: {std:.4g})",
            "decoder_std_end": end,
            "decoder_std_rest": rest,
        }

    def _bound(
        self,
        x: torch.Tensor,
        k: int,
        generator: torch.Generator | None,
        decoder: tuple[float, float] | None = None,
    ) -> torch.Tensor:
        T = self.schedule.T
        exact = min(T, self.config.nll_exact)
        if k == 0 or k >= T - exact:  # every timestep once: no cheaper than sampling
            exact = T
        every = torch.arange(1, exact + 1, device=x.device)
        terms = self.vlb_terms(x, every, generator=generator, decoder=decoder)
        total = terms.sum(1) + self.prior_term(x)
        if exact == T:
            return total
        q = snr_proposal(self.schedule, start=exact + 1)
        t, weight = stratified_timesteps(q, x.shape[0], k, generator=generator)
        drawn = self.vlb_terms(x, t, generator=generator, decoder=decoder)
        return total + (drawn * weight.to(drawn.dtype)).sum(1)
