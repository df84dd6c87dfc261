"""The self_supervised study on tiny encoders: every row scored on the same label subsets,
the encoder chosen on train cross-validation, classifiers early-stopped on validation
(never test), paired standard errors, and checks that can hold, fail or stay undecided."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from genlab.studies import get_study, run_study
from genlab.studies import self_supervised as study
from genlab.studies import self_supervised_cv as cv
from genlab.studies import self_supervised_stopping as stopping
from genlab.studies.checks import Evidence, verdict_of
from genlab.studies.self_supervised_cv import StepSearch, train_cross_validated
from genlab.studies.self_supervised_report import LABELS, pct
from genlab.studies.self_supervised_stopping import EarlyStopping, better, train_early_stopped

TINY_STOP = EarlyStopping(every=10, patience=10, cap=30, val_fraction=0.2, ema=0.9)
TINY_SEARCH = StepSearch(folds=3, every=10, patience=10, cap=30, ema=0.9)
TINY = study.SSLSettings(
    pretrain_steps=6,
    finetune_steps=4,
    finetune="best",
    encoder={"model.channels": 4, "model.embed_dim": 8},
    pretrain={m: {"train.batch_size": 32, "train.eval_every": 3} for m in study.METHODS},
    classifier={"train.batch_size": 32},
    stopping=TINY_STOP,
    search=TINY_SEARCH,
    cv_once=True,
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("self_supervised", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev, fractions = saved["evidence"], TINY.fractions
    assert saved["study"] == "self_supervised" and saved["claim"] == study.CLAIM.format(
        data="digits"
    )
    assert [ev[f"labels_{pct(f)}"] for f in fractions] == [14, 143, 1437]
    best = saved["protocol"]["best_method"].split()[0]
    cv = {m: ev[f"{m}_cv_accuracy_10pct"] for m in study.METHODS}
    assert best in study.METHODS and cv[best] == max(cv.values())
    assert ev["simclr_cv_accuracy_1pct"] is None  # 1 or 2 labels per class: no CV
    rows = ["pixels", "untrained", *study.METHODS, f"finetune_{best}", "scratch"]
    for name in rows:
        for f in fractions:
            p, se = ev[f"{name}_accuracy_{pct(f)}"], ev[f"{name}_accuracy_{pct(f)}_se"]
            assert 0.0 <= p <= 1.0, (name, f)
            assert se == pytest.approx(math.sqrt(p * (1 - p) / 359), rel=1e-6), (name, f)
    for f in fractions:
        assert ev[f"best_probe_accuracy_{pct(f)}"] == ev[f"{best}_accuracy_{pct(f)}"]
    assert ev["pixels_accuracy_100pct"] > 0.9  # logistic regression on all 1437 digits
    for name in study.REPEATED:  # subset 0 (the table's), then 1, 2
        values = [
            ev[f"{name}_accuracy_10pct"],
            *(ev[f"{name}_accuracy_10pct_seed{k}"] for k in (1, 2)),
        ]
        assert all(0.0 <= x <= 1.0 for x in values)
        assert ev[f"{name}_mean_10pct"] == pytest.approx(sum(values) / 3)
        assert ev[f"{name}_mean_10pct_se"] > 0
    for row in study.CONTROLS:  # paired gains: the difference of the means
        gain = ev["best_probe_mean_10pct"] - ev[f"{row}_mean_10pct"]
        assert ev[f"probe_minus_{row}_10pct"] == pytest.approx(gain)
        assert ev[f"probe_minus_{row}_10pct_se"] > 0
    assert ev["pixels_accuracy_10pct_seed1"] != ev["pixels_accuracy_10pct"]  # other labels
    # 3-fold CV where early stopping would hold out < 200 images (10%: 29), early stopping
    # where it would hold out more (100%: 287), fixed steps below 3 labels per class (1%)
    assert ev["scratch_1pct_best_step"] is None and ev["scratch_1pct_cv_folds"] is None
    assert ev["scratch_10pct_cv_folds"] == 3 and ev["scratch_10pct_seed2_cv_folds"] == 3
    assert ev[f"finetune_{best}_10pct_cv_folds"] == 3 and ev["scratch_10pct_cv_reused"] == 0
    # cv_once: subsets 1, 2 train the steps cross-validated on subset 0
    assert ev["scratch_10pct_seed2_cv_reused"] == 1
    assert ev["scratch_10pct_seed2_best_step"] == ev["scratch_10pct_best_step"]
    assert ev[f"finetune_{best}_100pct_cv_folds"] == 0
    for name in ("scratch_10pct", "scratch_10pct_seed2", f"finetune_{best}_100pct"):
        kept, stopped = ev[f"{name}_best_step"], ev[f"{name}_stop_step"]
        assert kept % TINY_STOP.every == 0 and kept <= stopped <= TINY_STOP.cap, name
        assert 0.0 <= ev[f"{name}_val_accuracy"] <= 1.0
        config = (tmp_path / "r" / "runs" / name / "config.yaml").read_text()
        assert f"steps: {kept:.0f}," in config  # the kept run folder is the kept step's
    assert not list((tmp_path / "r" / "runs").glob("*.search"))
    assert set(saved["checks"]) == {f"probe_beats_{row}" for row in study.CONTROLS}
    for check in saved["checks"].values():
        assert {"effect", "se", "margin", "status"} <= set(check)
    assert saved["verdict"] in ("holds", "does not hold", "undecided")
    tables = saved["tables"]
    assert [r[0] for r in tables[0]["rows"]] == [LABELS[n] for n in LABELS if n in rows]
    assert all(len(r) == len(t["columns"]) for t in tables for r in t["rows"])
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert [f["file"] for f in saved["figures"]] == [
        "label_efficiency.png",
        "simclr_views.png",
        "step_search.png",
    ]


def _planted(gains: dict[str, tuple[float, float]]) -> Evidence:
    ev = Evidence()
    for row, (gain, se) in gains.items():
        ev[f"probe_minus_{row}_10pct"], ev[f"probe_minus_{row}_10pct_se"] = gain, se
    return ev


CLEAR = {"scratch": (0.05, 0.005), "pixels": (0.06, 0.006), "untrained": (0.04, 0.005)}


def test_checks_hold_on_a_clear_gain():
    assert verdict_of(study.checks(_planted(CLEAR))) == "holds"


def test_checks_fail_when_scratch_is_as_good():
    # the fair scratch matches the probe: the data exclude a one-point gain
    ev = _planted(CLEAR | {"scratch": (0.0, 0.003)})
    checks = study.checks(ev)
    assert checks["probe_beats_scratch"].status == "fail"
    assert verdict_of(checks) == "does not hold"


def test_checks_fail_when_pretraining_adds_nothing_to_the_untrained_encoder():
    ev = _planted(CLEAR | {"untrained": (-0.02, 0.008)})
    assert verdict_of(study.checks(ev)) == "does not hold"


def test_checks_undecided_within_noise():
    # digits-sized noise: a 1.2-point gain with a 1.1-point SE
    ev = _planted(CLEAR | {"scratch": (0.012, 0.011)})
    checks = study.checks(ev)
    assert checks["probe_beats_scratch"].status == "undecided"
    assert verdict_of(checks) == "undecided"


@pytest.mark.parametrize("drop", sorted(_planted(CLEAR)))
def test_checks_need_every_number(drop):
    ev = _planted(CLEAR)
    del ev[drop]
    with pytest.raises(KeyError):
        study.checks(ev)


def test_subset_mean_se_against_a_naive_computation():
    one = torch.tensor([[1, 1, 0, 1, 0, 1, 1, 1]])  # one subset: the binomial SE
    mean, se = study.subset_mean_se(one)
    p = 6 / 8
    assert mean == pytest.approx(p) and se == pytest.approx(math.sqrt(p * (1 - p) / 7))
    diff = torch.tensor([[1, 0, 0, -1, 1, 0], [0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, -1]])
    mean, se = study.subset_mean_se(diff)
    per_image = [sum(col) / 3 for col in zip(*diff.tolist(), strict=True)]
    per_subset = [sum(row) / 6 for row in diff.tolist()]
    images = torch.tensor(per_image).double().std().item() / math.sqrt(6)
    subsets = torch.tensor(per_subset).double().std().item() / math.sqrt(3)
    assert mean == pytest.approx(sum(per_subset) / 3)
    assert se == pytest.approx(math.hypot(images, subsets))


def test_better_prefers_accuracy_then_loss():
    assert better((0.9, 0.5), None)
    assert better((0.9, 0.5), (0.8, 0.1))
    assert better((0.9, 0.4), (0.9, 0.5))
    assert not better((0.9, 0.5), (0.9, 0.5))
    assert not better((0.8, 0.1), (0.9, 0.5))


def test_early_stopping_selects_on_validation_not_test(tmp_path, monkeypatch):
    keys = {
        "data.name": "digits",
        "data.label_fraction": 0.1,
        "model.channels": 4,
        "model.embed_dim": 8,
        "train.batch_size": 32,
    }
    stop = replace(TINY_STOP, patience=20, cap=40)
    first = train_early_stopped("classifier", keys, tmp_path / "a", "cpu", stop)
    assert [s for s, *_ in first.history] == list(range(10, first.stop_step + 1, 10))
    best = None
    for step, acc, loss in first.history:  # the kept step is the best validation score
        if better((acc, loss), best):
            best, kept = (acc, loss), step
    assert first.best_step == kept and (first.val_accuracy, first.val_loss) == best
    assert first.val_size == round(0.2 * 143)  # held out of the 143 labelled images

    _scrambled_test_labels(monkeypatch, stopping)
    second = train_early_stopped("classifier", keys, tmp_path / "b", "cpu", stop)
    assert second == first  # test labels never enter the choice


def _scrambled_test_labels(monkeypatch, *modules):
    """Every loader of a run's data (the trainer's and ``modules``') gets the same training
    data with the test labels shuffled."""
    import genlab.runs.config as config

    real = config.load_data

    def scrambled(data):
        ds = real(data)
        y = ds.test.y[torch.randperm(len(ds.test.y), generator=torch.Generator().manual_seed(1))]
        return replace(ds, test=replace(ds.test, y=y))

    monkeypatch.setattr("genlab.runs.training.load_data", scrambled)
    for module in modules:
        monkeypatch.setattr(module, "load_data", scrambled)


CV_KEYS = {
    "data.name": "digits",
    "data.label_fraction": 0.1,
    "model.channels": 4,
    "model.embed_dim": 8,
    "train.batch_size": 32,
}


def test_cross_validation_chooses_steps_on_the_folds_not_test(tmp_path, monkeypatch):
    search = replace(TINY_SEARCH, patience=20, cap=40)
    first = train_cross_validated("classifier", CV_KEYS, tmp_path / "a", "cpu", search)
    assert [s for s, *_ in first.history] == list(range(10, first.stop_step + 1, 10))
    best = None
    for step, acc, loss in first.history:  # the kept step: the best fold-mean score
        if better((acc, loss), best):
            best, kept = (acc, loss), step
    assert first.best_step == kept and (first.val_accuracy, first.val_loss) == best
    assert first.val_size == 143 and first.folds == 3  # every labelled image held out once
    assert first.capped == (first.stop_step == 40 and first.stop_step - kept < 20)
    config = (tmp_path / "a" / "config.yaml").read_text()
    assert f"steps: {kept}," in config and "val_fraction: 0.0," in config  # all 143 labels

    _scrambled_test_labels(monkeypatch, cv)
    second = train_cross_validated("classifier", CV_KEYS, tmp_path / "b", "cpu", search)
    assert second == first  # test labels never enter the choice
    weights = [load_file(tmp_path / r / "ema.safetensors") for r in ("a", "b")]
    for name, value in weights[0].items():  # nor the final run (up to float reordering)
        torch.testing.assert_close(weights[1][name], value, rtol=1e-4, atol=1e-5)


def test_prediction_accuracy_counts_matches_in_batches():
    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def predict(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, 0].long()

    x = torch.tensor([[0], [1], [2], [3], [4]])
    y = torch.tensor([0, 1, 0, 3, 0])
    assert study.prediction_accuracy(Fixed(), x, y, batch_size=2) == pytest.approx(3 / 5)
    hits = study.prediction_correct(Fixed(), x, y, batch_size=2)
    assert hits.tolist() == [True, True, False, True, False]


def test_pct_names_fractions():
    assert [pct(f) for f in (0.01, 0.1, 1.0, 0.005)] == ["1pct", "10pct", "100pct", "0p5pct"]


def test_registered():
    s = get_study("self_supervised")
    assert s.name == "self_supervised" and "10% of the training labels" in s.claim
