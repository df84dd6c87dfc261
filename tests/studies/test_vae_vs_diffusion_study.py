"""The vae_vs_diffusion study on tiny models: every row scored, the checks read off the
evidence, the figures written."""

from __future__ import annotations

import json

import pytest

from genlab.studies import get_study, run_study
from genlab.studies import vae_vs_diffusion as study
from genlab.studies.vae_vs_diffusion_report import LABELS

TINY = study.CompareSettings(
    train_steps=10,
    n_samples=24,
    nll_samples=8,
    overrides=(
        ("vae", "model.hidden", 32),
        ("vae", "train.eval_every", 5),
        ("flow", "model.hidden", 32),
        ("flow", "model.steps", 2),
        ("flow", "train.eval_every", 5),
        ("diffusion", "model.channels", 8),
        ("diffusion", "model.multipliers", "1,2"),
        ("diffusion", "model.attention", "1"),
        ("diffusion", "model.timesteps", 20),
        ("diffusion", "model.nll_timesteps", 4),
    ),
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("vae_vs_diffusion", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev = saved["evidence"]
    assert saved["study"] == "vae_vs_diffusion" and saved["claim"] == study.CLAIM
    for name in study.METHODS:
        assert ev[f"{name}_fd"] > 0 and 0 <= ev[f"{name}_precision"] <= 1
        assert ev[f"{name}_seconds_per_image"] > 0 and ev[f"{name}_sharpness"] > 0
    for family in ("vae", "flow", "diffusion"):
        assert 0 < ev[f"{family}_test_bpd"] < 20 and ev[f"{family}_train_s"] > 0
    ratio = ev["diffusion_1000_seconds_per_image"] / ev["vae_sample_seconds_per_image"]
    assert ev["ddpm1000_over_vae_time"] == pytest.approx(ratio)
    checks = (
        ev["vae_mean_sharpness"] < ev["diffusion_20_sharpness"],
        ev["diffusion_20_fd"] < ev["vae_mean_fd"],
        100 * ev["vae_sample_seconds_per_image"] < ev["diffusion_1000_seconds_per_image"],
    )
    assert (saved["verdict"] == "holds") == all(checks)
    rows = saved["tables"][0]["rows"]
    assert [r[0] for r in rows[:-1]] == [LABELS[name] for name in study.METHODS]
    assert rows[-1][0].startswith("floor") and len(rows[0]) == len(saved["tables"][0]["columns"])
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert len(saved["figures"]) == 4


def test_registered():
    s = get_study("vae_vs_diffusion")
    assert s.name == "vae_vs_diffusion" and "blurrier" in s.claim


def test_protocol_names_the_models_the_dataset_resolves(tiny_fashion):
    """28x28 images get glow and a 16-channel U-Net by the family defaults; 8x8 digits
    realnvp and 24 channels: the protocol reads them off the configs."""
    from genlab.studies import vae_vs_diffusion as study

    resolved = {
        d: study._models(study._configs(study.SETTINGS[d]["quick"], d), d)
        for d in ("digits", "fashion-mnist")
    }
    digits, fashion = resolved["digits"], resolved["fashion-mnist"]
    assert "flow (realnvp," in digits and "U-Net 24 channels" in digits
    assert "flow (glow," in fashion and "U-Net 16 channels" in fashion
