"""The reverse_steps study on a tiny model: every sampler and step count scored, the
figures written, the evidence consistent with the table."""

from __future__ import annotations

import json

import pytest

from genlab.studies import get_study, run_study
from genlab.studies import reverse_steps as study

TINY = study.StepsSettings(
    train_steps=12,
    n_samples=24,
    steps=(1, 2, 5, 20),
    overrides=(
        ("model.channels", 8),
        ("model.multipliers", "1,2"),
        ("model.attention", "1"),
        ("model.timesteps", 20),
        ("train.batch_size", 32),
    ),
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("reverse_steps", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev = saved["evidence"]
    assert saved["study"] == "reverse_steps" and saved["claim"] == study.CLAIM
    for name in ("ddpm", "ddim", "dpmpp"):
        for k in (1, 2, 5):
            assert ev[f"{name}_{k}_fd"] > 0 and 0 <= ev[f"{name}_{k}_precision"] <= 1
    assert ev["ddpm_20_fd"] > 0 and "ddim_20_fd" not in ev  # T-step runs: ancestral only
    assert ev["oneshot_1_fd_over_floor"] == pytest.approx(ev["oneshot_1_fd"] / ev["floor_fd"])
    rows = saved["tables"][0]["rows"]
    assert rows[0][0] == "one-shot x0" and rows[-1][0].startswith("floor")
    assert len(rows) == 1 + 3 * 3 + 1 + 1
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert saved["verdict"] in ("holds", "inconclusive at this budget", "does not hold")


def test_registered():
    s = get_study("reverse_steps")
    assert s.name == "reverse_steps" and "one step" in s.claim
