"""The contrastive study on tiny embeddings: every row scored on seen and unseen classes,
the checks read off the evidence, the figures written; and the triplet arithmetic
behind the margin histograms against a naive loop."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.metric import TripletConfig
from genlab.studies import contrastive as study
from genlab.studies import get_study, run_study
from genlab.studies.contrastive_report import figure_sets, label_of

TINY = study.ContrastiveSettings(
    train_steps=6,
    margins=(0.2, 0.5),
    miners=("batch_all", "semi_hard"),
    overrides=(
        ("model.channels", 4),
        ("model.embed_dim", 8),
        ("train.batch_size", 64),
        ("train.eval_every", 3),
    ),
)


@pytest.fixture
def registered(monkeypatch):
    from genlab import registry

    monkeypatch.setitem(registry.STUDIES, "contrastive", "genlab.studies.contrastive:STUDY")


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, registered, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("contrastive", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev, protocol = saved["evidence"], saved["protocol"]
    assert saved["study"] == "contrastive" and saved["claim"] == study.CLAIM.format(data="digits")
    configs = study.configurations(TINY)
    default = protocol["default_configuration"]
    defaults = TripletConfig()
    if defaults.loss == "triplet" and defaults.miner in TINY.miners:
        assert default == f"{defaults.miner}_m{defaults.margin:g}"  # found among the rows
    assert protocol["selected_on_validation"] in configs
    assert set(study.ABLATIONS) <= set(configs)
    for name in ("pixels", "untrained", *configs):
        for split in ("unseen", "seen", "val"):
            assert 0 <= ev[f"{name}_{split}_recall_at_1"] <= 1
            assert 0 < ev[f"{name}_{split}_map_at_r"] <= 1
    for name in ("untrained", *configs):
        assert 0 <= ev[f"{name}_seen_margin_satisfied"] <= 1
        assert ev[f"{name}_seen_mean_distance"] >= 0
    for name in configs:
        assert ev[f"{name}_train_s"] > 0 and ev[f"{name}_selected_step"] in (3, 6)
    assert ev["ntxent_active_fraction"] is None and 0 <= ev[f"{default}_active_fraction"] <= 1
    assert ev["pixels_unseen_recall_at_1"] == pytest.approx(0.966, abs=0.01)  # the issue's
    assert ev["pixels_unseen_map_at_r"] == pytest.approx(0.57, abs=0.01)  # reference
    checks = (
        ev[f"{default}_unseen_map_at_r"] > ev["pixels_unseen_map_at_r"],
        ev[f"{default}_unseen_recall_at_1"] >= ev["pixels_unseen_recall_at_1"] - 0.01,
        ev[f"{default}_seen_map_at_r"] > ev["pixels_seen_map_at_r"]
        and ev[f"{default}_seen_map_at_r"] > ev["untrained_seen_map_at_r"],
    )
    expected = "holds" if all(checks) else "inconclusive at this budget"
    assert saved["verdict"] == expected
    table = saved["tables"][0]
    assert [r[0].split(" [")[0] for r in table["rows"]] == [
        label_of(n, configs.get(n)) for n in ("pixels", "untrained", *configs)
    ]
    assert all(len(r) == len(table["columns"]) for r in table["rows"])
    assert len(saved["figures"]) == 3
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"


def test_registered(registered):
    s = get_study("contrastive")
    assert s.name == "contrastive" and "never-seen" in s.claim


def test_checks_read_off_the_evidence():
    ev = {
        "pixels_unseen_map_at_r": 0.57,
        "pixels_unseen_recall_at_1": 0.97,
        "x_unseen_map_at_r": 0.6,
        "x_unseen_recall_at_1": 0.961,
        "x_seen_map_at_r": 0.8,
        "pixels_seen_map_at_r": 0.72,
        "untrained_seen_map_at_r": 0.6,
    }
    assert study.checks(ev, "x") == dict.fromkeys(
        ("map_above_pixels", "recall_within_slack", "separates_seen"), True
    )
    ev["x_unseen_recall_at_1"] = 0.95
    assert study.checks(ev, "x")["recall_within_slack"] is False
    ev["untrained_seen_map_at_r"] = 0.81
    assert study.checks(ev, "x")["separates_seen"] is False
    ev["x_unseen_map_at_r"] = None
    assert study.checks(ev, "x")["map_above_pixels"] is None


def test_figures_show_a_seeded_subset_of_a_large_split():
    """A split larger than FIGURE_IMAGES is cut to that many images (the same ones every
    time, in their order); a smaller one is shown whole."""
    x = torch.arange(1000.0)[:, None]
    sets = {"big": (x, torch.arange(1000) % 5), "small": (x[:30], torch.zeros(30))}
    shown = figure_sets(sets, n=100)
    big_x, big_y = shown["big"]
    assert len(big_x) == 100 and bool((big_x[1:, 0] > big_x[:-1, 0]).all())
    assert torch.equal(big_y, sets["big"][1][big_x[:, 0].long()])
    assert torch.equal(figure_sets(sets, n=100)["big"][0], big_x)
    assert torch.equal(shown["small"][0], x[:30])
