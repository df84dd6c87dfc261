"""The self_supervised study on tiny encoders: every row scored on the same label subsets,
the best encoder chosen on train cross-validation, the checks read off the evidence, the
figures written."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.studies import get_study, run_study
from genlab.studies import self_supervised as study
from genlab.studies.self_supervised_report import LABELS, pct

TINY = study.SSLSettings(
    pretrain_steps=6,
    finetune_steps=4,
    finetune="best",
    encoder={"model.channels": 4, "model.embed_dim": 8},
    pretrain={m: {"train.batch_size": 32, "train.eval_every": 3} for m in study.METHODS},
    classifier={"train.batch_size": 32},
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
            assert 0.0 <= ev[f"{name}_accuracy_{pct(f)}"] <= 1.0, (name, f)
    for f in fractions:
        assert ev[f"best_probe_accuracy_{pct(f)}"] == ev[f"{best}_accuracy_{pct(f)}"]
    assert ev["pixels_accuracy_100pct"] > 0.9  # logistic regression on all 1437 digits
    means = {}
    for name in ("best_probe", "pixels", "scratch"):  # subset 0 (the table's), then 1, 2
        values = [
            ev[f"{name}_accuracy_10pct"],
            *(ev[f"{name}_accuracy_10pct_seed{k}"] for k in (1, 2)),
        ]
        assert all(0.0 <= x <= 1.0 for x in values)
        means[name] = ev[f"{name}_mean_10pct"]
        assert means[name] == pytest.approx(sum(values) / 3)
    assert ev["pixels_accuracy_10pct_seed1"] != ev["pixels_accuracy_10pct"]  # other labels
    assert (tmp_path / "r" / "runs" / "scratch_10pct_seed2" / "config.yaml").exists()
    checks = (
        means["best_probe"] > means["scratch"],
        means["best_probe"] > means["pixels"],
    )
    assert (saved["verdict"] == "holds") == all(checks)
    assert saved["verdict"] != "does not hold"  # quick budget: inconclusive at worst
    table = saved["tables"][0]
    assert [r[0] for r in table["rows"]] == [LABELS[n] for n in LABELS if n in rows]
    assert all(len(r) == len(table["columns"]) for r in table["rows"])
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert len(saved["figures"]) == 2
    # the fine-tuned and scratch classifiers trained on the probes' labelled subsets
    assert (tmp_path / "r" / "runs" / "scratch_10pct" / "config.yaml").exists()


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


def test_pct_names_fractions():
    assert [pct(f) for f in (0.01, 0.1, 1.0, 0.005)] == ["1pct", "10pct", "100pct", "0p5pct"]


def test_registered():
    s = get_study("self_supervised")
    assert s.name == "self_supervised" and "10% of the training labels" in s.claim
