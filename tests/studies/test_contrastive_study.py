"""The contrastive study on tiny embeddings: every row scored on seen and unseen classes,
the checks read off the evidence, the figures written; and the triplet arithmetic
behind the margin histograms against a naive loop."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import pytest
import torch

from genlab.metric import TripletConfig
from genlab.studies import contrastive as study
from genlab.studies import get_study, run_study
from genlab.studies.checks import Evidence, verdict_of
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
    ev, protocol = Evidence(saved["evidence"]), saved["protocol"]
    assert saved["study"] == "contrastive" and saved["claim"] == study.CLAIM.format(data="digits")
    configs = study.configurations(TINY)
    default = protocol["default_configuration"]
    defaults = TripletConfig()
    if defaults.loss == "triplet" and defaults.miner in TINY.miners:
        assert default == f"{defaults.miner}_m{defaults.margin:g}"  # found among the rows
    picks = {q: protocol[f"selected_{q}"] for q in ("seen", "unseen")}
    for q, on in study.VALIDATION.items():
        assert picks[q] in configs
        shown = {n: {f"{on}_map_at_r": ev[f"{n}_{on}_map_at_r"]} for n in configs}
        assert picks[q] == study.select(shown, configs, default, on=on)
        for suffix in ("", "_se"):
            got = ev[f"selected_{q}_validation_map_at_r{suffix}"]
            assert got == ev[f"{picks[q]}_{on}_map_at_r{suffix}"]
    assert set(study.ABLATIONS) <= set(configs)
    for name in ("pixels", "untrained", *configs):
        for split in ("unseen", "seen", "unseen_val", "seen_val"):
            assert 0 <= ev[f"{name}_{split}_recall_at_1"] <= 1
            assert 0 < ev[f"{name}_{split}_map_at_r"] <= 1
            assert 0 < ev[f"{name}_{split}_map_at_r_se"] < 0.1
    for name in ("untrained", *configs):
        assert 0 <= ev[f"{name}_seen_margin_satisfied"] <= 1
        assert ev[f"{name}_seen_mean_distance"] >= 0
    for name in configs:
        assert ev[f"{name}_train_s"] > 0 and ev[f"{name}_selected_step"] in (3, 6)
    assert ev["ntxent_active_fraction"] is None and 0 <= ev[f"{default}_active_fraction"] <= 1
    assert ev["pixels_unseen_recall_at_1"] == pytest.approx(0.966, abs=0.01)  # the issue's
    assert ev["pixels_unseen_map_at_r"] == pytest.approx(0.57, abs=0.01)  # reference
    # a paired difference of means is the difference
    for (q, row), split, ref in product(picks.items(), ("seen", "unseen"), study.REFERENCES):
        diff = ev[f"{row}_{split}_map_at_r"] - ev[f"{ref}_{split}_map_at_r"]
        name = f"selected_{q}_minus_{ref}_{split}_map_at_r"
        assert ev[name] == pytest.approx(diff, abs=1e-9) and ev[f"{name}_se"] > 0
    held = protocol["validation_seen"]  # held out from the train images of 0-4
    assert f"among the {round(0.1 * 719)} train images" in held
    assert set(saved["checks"]) == set(study.checks(ev))
    for q in ("seen", "unseen"):  # each check's text names the row it reads
        for name in (f"{q}_above_pixels", f"{q}_above_untrained"):
            assert f"[row {picks[q]}]" in saved["checks"][name]["text"]
    for name, check in study.checks(ev).items():
        assert saved["checks"][name]["status"] == check.status
        assert {"effect", "se", "margin", "status"} <= set(saved["checks"][name])
    assert saved["verdict"] == verdict_of(study.checks(ev))
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


def planted(seen: float, unseen: float, se: float) -> Evidence:
    """Evidence with every paired difference the checks read: ``seen`` on the seen
    classes (the row chosen on seen-class validation), ``unseen`` on the unseen ones (the
    class-disjoint choice), all with standard error ``se``."""
    ev = Evidence()
    for split, effect in (("seen", seen), ("unseen", unseen)):
        for ref in ("pixels", "untrained"):
            ev[f"selected_{split}_minus_{ref}_{split}_map_at_r"] = effect
            ev[f"selected_{split}_minus_{ref}_{split}_map_at_r_se"] = se
    return ev


def test_planted_evidence_gives_each_verdict():
    gain = study.SEEN_GAIN
    assert verdict_of(study.checks(planted(gain + 0.1, 0.05, 0.01))) == "holds"
    # the Fashion-MNIST failure: unseen classes ranked worse than raw pixels
    assert verdict_of(study.checks(planted(gain + 0.1, -0.1, 0.01))) == "does not hold"
    # a gain on the seen classes well short of the margin fails too (digits quick with
    # one row for both questions: +0.003 +- 0.001)
    assert verdict_of(study.checks(planted(0.003, 0.05, 0.001))) == "does not hold"
    # the digits quick budget before: unseen +0.004 with an SE of a few hundredths
    assert verdict_of(study.checks(planted(gain + 0.1, 0.004, 0.02))) == "undecided"
    assert verdict_of(study.checks(planted(gain + 0.01, 0.05, 0.01))) == "undecided"


def test_checks_need_every_number_they_read():
    ev = planted(0.2, 0.05, 0.01)
    for name in list(ev):
        short = Evidence({k: v for k, v in ev.items() if k != name})
        with pytest.raises(KeyError):
            study.checks(short)


def test_selection_reads_validation_numbers_only():
    """A row best on the test classes but not on validation is not selected; the test
    numbers can be anything without changing the choice."""
    configs = {"a": {}, "b": {}, "c": {}}
    rows = {
        "a": {"unseen_val_map_at_r": 0.80, "unseen_map_at_r": 0.50, "seen_map_at_r": 0.7},
        "b": {"unseen_val_map_at_r": 0.90, "unseen_map_at_r": 0.40, "seen_map_at_r": 0.6},
        "c": {"unseen_val_map_at_r": 0.85, "unseen_map_at_r": 0.99, "seen_map_at_r": 0.99},
    }
    assert study.select(rows, configs, "a", on="unseen_val") == "b"
    rows["b"] |= {"unseen_map_at_r": 0.0, "seen_map_at_r": 0.0}
    assert study.select(rows, configs, "a", on="unseen_val") == "b"
    rows["c"]["unseen_val_map_at_r"] = 0.90  # a tie goes to the defaults, then in order
    assert study.select(rows, configs, "c", on="unseen_val") == "c"
    assert study.select(rows, configs, "a", on="unseen_val") == "b"
    with pytest.raises(AssertionError):  # a test split is no validation set
        study.select(rows, configs, "a", on="seen")


def test_seen_checks_use_the_row_chosen_on_seen_validation():
    """The seen-class checks read the row best on the held-out train images of classes
    0-4, not the row best on seen TEST, nor the class-disjoint choice."""
    configs = {"a": {}, "b": {}, "c": {}}
    rows = {  # a: best on seen test; b: best on seen validation; c: class-disjoint
        "a": {"seen_val_map_at_r": 0.80, "unseen_val_map_at_r": 0.80, "seen_map_at_r": 0.99},
        "b": {"seen_val_map_at_r": 0.95, "unseen_val_map_at_r": 0.70, "seen_map_at_r": 0.90},
        "c": {"seen_val_map_at_r": 0.85, "unseen_val_map_at_r": 0.90, "seen_map_at_r": 0.70},
    }
    picks = {q: study.select(rows, configs, "a", on=v) for q, v in study.VALIDATION.items()}
    assert picks == {"seen": "b", "unseen": "c"}
    aps = {  # per-query test AP@R: a row's seen MAP@R on every seen query
        n: {"seen": torch.full((4,), r["seen_map_at_r"]), "unseen": torch.full((4,), 0.5)}
        for n, r in rows.items()
    }
    aps |= {
        ref: {s: torch.full((4,), 0.6) for s in ("seen", "unseen")}
        for ref in ("pixels", "untrained")
    }
    rows |= {
        ref: {"seen_val_map_at_r": 0.5, "unseen_val_map_at_r": 0.5}
        for ref in ("pixels", "untrained")
    }
    for r in rows.values():
        r |= {"seen_val_map_at_r_se": 0.01, "unseen_val_map_at_r_se": 0.01}
    ev = study.evidence(rows, aps, "a", picks)
    assert ev["selected_seen_validation_map_at_r"] == 0.95
    assert ev["selected_unseen_validation_map_at_r"] == 0.90
    found = study.checks(ev, {"seen": "row b", "unseen": "row c"})
    assert found["seen_above_pixels"].effect == pytest.approx(0.90 - 0.6)  # b's, not a's
    assert "row b" in found["seen_above_pixels"].text
    assert "row c" in found["unseen_above_untrained"].text


def test_paired_difference_against_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(50, generator=g), torch.rand(50, generator=g)
    mean, se = study.paired(a, b)
    d = [float(x - y) for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    sd = (sum((x - m) ** 2 for x in d) / (len(d) - 1)) ** 0.5
    assert mean == pytest.approx(m) and se == pytest.approx(sd / len(d) ** 0.5)


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


def test_family_defaults_are_the_row_validation_chose():
    """The triplet defaults searched in benchmarks/triplet_defaults.py are the row with the
    highest class-disjoint validation MAP@R, as recorded; no test class was read."""
    path = Path(__file__).parents[2] / "benchmarks" / "results" / "triplet_defaults.json"
    saved = json.loads(path.read_text())
    rows = saved["rows"]
    assert saved["chosen"] == max(rows, key=lambda n: rows[n]["mean_map@r"])
    for fold in (f for row in rows.values() for f in row["folds"]):
        assert set(fold["train"]) | set(fold["val"]) <= set(study.SEEN)
        assert not set(fold["train"]) & set(fold["val"])
    defaults = TripletConfig()
    assert {k: getattr(defaults, k) for k in saved["searched_keys"]} == saved["chosen_model"]
