"""Sampling options: declared by each family (``Family.sampling``), parsed by the typed
override code of training, checked next to their fields, and reaching the sampler."""

from __future__ import annotations

import pytest
import torch

from genlab.diffusion import DiffusionSampling
from genlab.diffusion.samplers import SAMPLERS, SampleOutput, timestep_grid
from genlab.errors import ConfigError, GenlabError
from genlab.family import get_family
from genlab.inference import sample_run, sampling_options
from genlab.runs import LoadedRun, build_model, load_data, make_config

TINY_DIFFUSION = {
    "model.channels": "8",
    "model.multipliers": "1,2",
    "model.attention": "1",
    "model.timesteps": "40",
}


def _fresh(family: str, data: str = "digits", **over: str) -> LoadedRun:
    """An untrained run of ``family`` held in memory (nothing written)."""
    cfg = make_config(family, overrides={"data.name": data, **over})
    ds = load_data(cfg.data)
    return LoadedRun(cfg, ds.meta, build_model(cfg, ds.meta).eval(), "model")


# ---------------------------------------------------------------- parsing


def test_strings_become_the_typed_options_dataclass():
    got = get_family("diffusion").sampling_options(
        {"sampler": "ddim", "steps": "50", "eta": "0.5", "spacing": "quadratic"}
    )
    assert got == DiffusionSampling(sampler="ddim", steps=50, eta=0.5, spacing="quadratic")
    assert get_family("vae").sampling_options({"mode": "mean"}).mode == "mean"
    assert get_family("flow").sampling_options({"temperature": "0.7"}).temperature == 0.7


def test_an_unknown_key_names_the_closest_and_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        get_family("diffusion").sampling_options({"stpes": "50"})
    assert str(err.value) == (
        "unknown diffusion sampling option 'stpes' (did you mean 'steps'?); "
        "valid keys: sampler, steps, eta, spacing, guidance, label"
    )
    with pytest.raises(ConfigError, match="unknown vae sampling option 'steps'.*keys: mode$"):
        get_family("vae").sampling_options({"steps": "10"})
    with pytest.raises(ConfigError, match="unknown pixelwise sampling option 'sampler'; there"):
        get_family("pixelwise").sampling_options({"sampler": "ddim"})
    with pytest.raises(ConfigError, match="'triplet' does not generate samples"):
        get_family("triplet").sampling_options({})


@pytest.mark.parametrize(
    ("family", "key", "value", "message"),
    [
        ("diffusion", "steps", "many", "steps='many': expected an integer"),
        ("diffusion", "steps", "2.5", "steps='2.5': expected an integer"),
        ("diffusion", "sampler", "euler", "sampler='euler': expected one of ddpm|ddim"),
        ("diffusion", "spacing", "cubic", "spacing='cubic': expected one of uniform"),
        ("diffusion", "steps", "0", "steps=0 is out of range: it must be at least 1"),
        ("diffusion", "eta", "-0.1", "eta=-0.1 is out of range: it must be at least 0"),
        ("diffusion", "guidance", "-1", "guidance=-1.0 is out of range"),
        ("diffusion", "label", "-1", "label=-1 is out of range"),
        ("vae", "mode", "median", "mode='median': expected one of sample|mean"),
        ("flow", "temperature", "-0.5", "temperature=-0.5 is out of range"),
        ("flow", "temperature", "hot", "temperature='hot': expected a number"),
    ],
)
def test_a_wrong_type_or_range_names_the_key(family, key, value, message):
    with pytest.raises(ConfigError) as err:
        get_family(family).sampling_options({key: value})
    assert message in str(err.value) and "--" not in str(err.value)


def test_ranges_hold_for_options_built_in_python_too():
    with pytest.raises(ConfigError, match="steps=0 is out of range"):
        DiffusionSampling(steps=0)


def test_absent_options_mean_the_models_own_defaults():
    run = _fresh("diffusion", **TINY_DIFFUSION)
    assert sampling_options(run, {"steps": None, "eta": None}) == DiffusionSampling()


# ---------------------------------------------------------------- reaching the model


def test_diffusion_options_reach_the_sampler(monkeypatch):
    run = _fresh("diffusion", **TINY_DIFFUSION)
    seen: dict[str, object] = {}

    def ddim(denoiser, schedule, x_T, timesteps, *, generator=None, keep_steps=False, eta=0.0):
        seen.update(timesteps=timesteps.tolist(), eta=eta)
        return SampleOutput(x_T.clamp(-1, 1))

    monkeypatch.setitem(SAMPLERS, "ddim", ddim)
    options = {"sampler": "ddim", "steps": "5", "eta": "0.5", "spacing": "quadratic"}
    x = sample_run(run, 3, options=options)
    assert x.shape == (3, 1, 8, 8)
    assert seen == {"timesteps": timestep_grid(40, 5, "quadratic").tolist(), "eta": 0.5}


def test_diffusion_eta_and_spacing_change_the_samples():
    run = _fresh("diffusion", **TINY_DIFFUSION)
    base = {"sampler": "ddim", "steps": "4"}
    plain = sample_run(run, 8, options=base)
    assert torch.equal(plain, sample_run(run, 8, options={**base, "eta": "0"}))
    assert not torch.equal(plain, sample_run(run, 8, options={**base, "eta": "1"}))
    assert not torch.equal(plain, sample_run(run, 8, options={**base, "spacing": "quadratic"}))


def test_model_errors_name_the_option_keys():
    run = _fresh("diffusion", **TINY_DIFFUSION)
    cases = {
        "label": ({"label": "3"}, "label needs a model trained with model.conditional=true"),
        "eta": ({"sampler": "dpmpp", "eta": "0.3"}, "eta applies to sampler=ddim only"),
        "steps": ({"steps": "41"}, "steps=41 exceeds the model's 40 timesteps"),
    }
    for options, message in cases.values():
        with pytest.raises(GenlabError) as err:
            sample_run(run, 2, options=options)
        assert message in str(err.value) and "--" not in str(err.value)


def test_vae_mode_mean_is_the_rounded_decoder_mean_of_the_same_latents():
    run = _fresh("vae", **{"model.hidden": "16"})
    model = run.model
    mean = sample_run(run, 16, seed=3, options={"mode": "mean"})
    drawn = sample_run(run, 16, seed=3)
    z = torch.randn((16, model.config.latent), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = model.likelihood.mean(model.decode(z)).round().clamp(0, 16).long()
    assert torch.equal(mean, want)
    assert torch.equal(mean, sample_run(run, 16, seed=3, options={"mode": "mean"}))
    assert not torch.equal(mean, drawn)


def test_flow_temperature_shrinks_the_spread_of_samples():
    run = _fresh("flow", data="toy2d:moons")
    spread = {
        t: float(sample_run(run, 400, options={"temperature": t}).std(0).mean())
        for t in (0.0, 0.5, 1.0)
    }
    assert spread[0.0] == 0.0  # every sample is the flow's image of z = 0
    assert 0.0 < spread[0.5] < 0.75 * spread[1.0]
    digits = _fresh("flow")
    x = sample_run(digits, 4, options={"temperature": "0"})
    assert (x == x[0]).all()
