"""The dequantization study: curves, the pixelwise baseline, and a tiny run."""

from __future__ import annotations

import json
import math

import pytest

from genlab.data import load_dataset
from genlab.studies import dequantization as study
from genlab.studies import get_study, run_study
from genlab.studies.base import verdict_of
from genlab.studies.curves import StepRecorder, read_curves


def test_pixelwise_baseline_is_the_known_value():
    # README: the add-one histogram of the train split scored on test, 2.4376 bits/dim
    assert study._pixelwise_bpd(load_dataset("digits")) == pytest.approx(2.4376, abs=1e-4)


def test_read_curves(tmp_path):
    lines = [
        {"step": 25, "kind": "train", "bpd": 3.0},
        {"step": 50, "kind": "train", "bpd": 2.0},
        {"step": 50, "kind": "val", "bpd": 2.5, "best": 2.5},
        {"step": 75, "kind": "train", "bpd": float("nan")},
        {"step": 100, "kind": "val", "bpd": 2.7, "best": 2.5},
        {"step": 100, "kind": "event", "note": "x"},
    ]
    text = "\n".join(json.dumps(r) for r in lines) + "\n{cut"
    (tmp_path / "metrics.jsonl").write_text(text)
    c = read_curves(tmp_path)
    assert c.train == [(25, 3.0), (50, 2.0)] and c.val == [(50, 2.5), (100, 2.7)]
    assert c.best_val() == (50, 2.5) and c.last_train() == 2.0 and c.min_train() == 2.0
    assert c.train_at_fraction(0.75) == 2.0


def test_step_recorder_averages_windows():
    rec = StepRecorder(window=2)
    for step, value in enumerate([1.0, 3.0, 5.0, math.inf, 7.0], start=1):
        rec(step, {"bpd": value})
    assert rec.curves().train == [(2, 2.0), (4, 5.0), (5, 7.0)]


def test_verdict_rules():
    assert verdict_of({"a": True, "b": True}, budget="quick") == "holds"
    assert verdict_of({"a": True, "b": False}, budget="quick") == "inconclusive at this budget"
    assert verdict_of({"a": True, "b": False}, budget="full") == "does not hold"
    assert verdict_of({"a": False, "b": True}, budget="quick", firm=["a"]) == "does not hold"
    assert verdict_of({"a": None, "b": True}, budget="full") == "inconclusive at this budget"


TINY = study.DequantSettings(
    steps=30,
    overrides={
        "model.hidden": 16,
        "model.steps": 1,
        "model.deq_steps": 1,
        "model.deq_hidden": 8,
        "train.eval_every": 10,
        "train.log_every": 5,
    },
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("dequantization", "quick", tmp_path / "d", device.type)
    saved = json.loads((tmp_path / "d" / "results.json").read_text())
    ev = saved["evidence"]
    assert saved["study"] == "dequantization" and saved["claim"] == study.CLAIM
    for mode in ("uniform", "variational"):
        assert ev[f"{mode}_test_bpd_end"] > 0 and ev[f"{mode}_test_bpd_selected"] > 0
        assert ev[f"{mode}_val_bpd_best"] > 0 and ev[f"{mode}_diverged"] == 0
    assert ev["variational_gain_over_uniform_bpd"] == pytest.approx(
        ev["uniform_test_bpd_selected"] - ev["variational_test_bpd_selected"]
    )
    # 'none' either trained (its numbers present) or diverged (and says so)
    if ev["none_diverged"]:
        assert "diverged" in saved["summary"]
    else:
        assert ev["none_train_bpd_final"] is not None and ev["none_test_bpd_as_uniform_bound"]
    table = saved["tables"][0]
    assert table["rows"][0][0] == "none" and table["rows"][0][1].startswith("NO")
    assert table["rows"][-1][-1] == pytest.approx(2.4376, abs=1e-4)
    assert (tmp_path / "d" / "dequantization_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert saved["protocol"]["steps"] == 30 and saved["protocol"]["none_steps"] == 30


def test_the_none_run_may_train_longer_than_the_bounds():
    """none_steps sets the 'none' run's steps only; the bounds keep ``steps``."""
    s = study.DequantSettings(steps=500, none_steps=1500)
    assert [s.steps_of(m) for m in study.MODES] == [1500, 500, 500]
    assert [study._overrides(m, s, "digits")["train.steps"] for m in study.MODES] == [
        1500,
        500,
        500,
    ]
    assert study.DequantSettings(steps=40).steps_of("none") == 40


def test_registered():
    s = get_study("dequantization")
    assert s.name == "dequantization" and "bound" in s.claim


def test_a_none_run_still_above_zero_is_called_unfinished_with_its_numbers():
    """At a budget too short for the 'none' flow to cross 0 (Fashion-MNIST quick: 2.32
    bits/dim, still falling) the summary says so with the gap to the uniform model."""
    from genlab.studies.dequantization_report import ModeRun, summary

    ev = {
        "none_train_bpd_final": 2.32,
        "none_train_bpd_min": 2.32,
        "none_train_drop_last_quarter_bpd": 0.45,
        "uniform_train_bpd_final": 3.58,
    }
    runs = {"none": ModeRun("none", StepRecorder().curves())}
    text = summary(ev, runs)
    assert "had not crossed 0" in text and "1.26 bits/dim below" in text and "(3.580)" in text
    ev["none_train_bpd_min"] = -0.7  # crossed: nothing to excuse
    assert "had not crossed 0" not in summary(ev, runs)
