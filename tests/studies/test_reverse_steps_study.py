"""The reverse_steps study on a tiny model: every sampler and step count scored, the
figures written, the evidence consistent with the table."""

from __future__ import annotations

import json

import pytest

from genlab.studies import get_study, run_study
from genlab.studies import reverse_steps as study
from genlab.studies.checks import verdict_of

TINY = study.StepsSettings(
    train_steps=12,
    n_samples=24,
    steps=(1, 2, 5, 20),
    student_steps=3,
    student_nfes=(1, 2),
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
    assert ev["ddpm_20_fd"] > 0 and ev["ddim_20_fd"] is None  # T-step runs: ancestral only
    assert ev["oneshot_1_fd_over_floor"] == pytest.approx(ev["oneshot_1_fd"] / ev["floor_fd"])
    rows = saved["tables"][0]["rows"]
    assert rows[0][0] == "one-shot x0" and rows[-1][0].startswith("floor")
    assert len(rows) == 1 + 3 * 3 + 1 + 2 + 1  # one-shot, grid, ddpm 20, student 1 and 2
    assert ev["student_1_fd"] > 0 and ev["student_2_fd"] > 0 and "student_4_fd" not in ev
    assert ev["student_steps"] == 3 and ev["student_train_s"] > 0 and ev["teacher_train_s"] > 0
    assert (tmp_path / "r" / "runs" / "student" / "model.safetensors").is_file()
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert saved["verdict"] in ("holds", "undecided", "does not hold")
    for check in saved["checks"].values():  # each with its numbers (None: not measured)
        assert {"effect", "se", "margin", "status", "text"} <= check.keys()


def test_registered():
    s = get_study("reverse_steps")
    assert s.name == "reverse_steps" and "one step" in s.claim


def _scored_rows() -> tuple[dict, dict[str, float]]:
    """Rows of every checked (sampler, NFE) with chosen FDs, and a floor."""
    fds = {("oneshot", 1): 40.0, ("dpmpp", 20): 4.0, ("ddpm", 1000): 2.0, ("ddpm", 10): 9.0}
    fds |= {("ddpm", 100): 2.5}
    fds |= {("ddim", 20): 3.0, ("ddim", 2): 8.0, ("student", 1): 10.0}
    rows = {
        key: {"fd": v, "fd_se": 0.05 * v, "kid": 0.0, "precision": 0.5, "recall": 0.5}
        for key, v in fds.items()
    }
    for r in rows.values():
        r |= {"sharpness": 1.0, "seconds_per_image": 0.1}
    floor = {"fd": 1.5, "kid": 0.0, "precision": 0.9, "recall": 0.9}
    return rows, floor


def test_the_verdict_is_the_seeds_claim_and_the_solver_gap_is_reported_beside_it():
    """One-shot far worse and more steps better decide the verdict; DPM-Solver++ far
    from 1000 ancestral steps does not, but its ratio is evidence and in the summary."""
    rows, floor = _scored_rows()
    ev = study._evidence(rows, floor)
    names = {"oneshot_far_worse", "ancestral_more_steps_help", "ddim_more_steps_help"}
    names |= {"student_skips_steps"}
    assert set(study.checks(ev)) == names
    assert verdict_of(study.checks(ev)) == "holds"
    assert ev["dpmpp_20_over_ddpm_1000"] == pytest.approx(2.0)
    text = study.summary(ev, floor)
    assert "20 calls is 2.00x the FD of 1000 ancestral steps, outside the 25% target" in text
    ev["student_1_fd"] = 30.0  # a student no better than the one-shot mean: fails
    assert study.checks(ev)["student_skips_steps"].status == "fail"
    ev["student_1_fd"] = 10.0
    ev["ddim_20_fd"] = 9.0  # more steps made DDIM worse: the claim's check fails
    assert study.checks(ev)["ddim_more_steps_help"].status == "fail"
    assert verdict_of(study.checks(ev)) == "does not hold"


def test_the_solver_ratio_averages_noise_draws_and_says_when_fd_cannot_resolve_it():
    """Several x_T draws of DPM-Solver++ 20: the ratio uses their mean (not the grid's
    one draw), min/max are evidence, and a spread wider than the target's margin is
    called out in the summary."""
    rows, floor = _scored_rows()
    draws = [4.0, 2.0, 2.2, 1.8]
    ev = study._evidence(rows, floor, draws)
    assert ev["solver_draws"] == 4
    assert ev["dpmpp_20_fd_draws_mean"] == pytest.approx(2.5)
    assert (ev["dpmpp_20_fd_draws_min"], ev["dpmpp_20_fd_draws_max"]) == (1.8, 4.0)
    assert ev["dpmpp_20_over_ddpm_1000"] == pytest.approx(2.5 / 2.0)
    text = study.summary(ev, floor)
    assert "scores 1.80-4.00 (mean 2.50)" in text and "its mean is 1.25x" in text
    assert "within the 25% target" in text and "cannot resolve a 25% gap" in text
    tight = study._evidence(rows, floor, [2.4, 2.5, 2.45])
    assert "cannot resolve" not in study.summary(tight, floor)
