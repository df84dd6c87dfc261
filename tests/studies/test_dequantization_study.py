"""The dequantization study: the bin-integrated score against known answers, the checks
on planted evidence, curves, the pixelwise baseline, and a tiny run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.data import load_dataset
from genlab.data.dataset import DataMeta
from genlab.errors import TrainingDiverged
from genlab.metrics.bin_probability import BoxDequantization, bin_scores, bin_scores_from_nlls
from genlab.studies import dequantization as study
from genlab.studies import get_study, run_study
from genlab.studies.checks import Evidence, verdict_of
from genlab.studies.curves import StepRecorder, read_curves
from genlab.studies.dequantization_report import ModeRun, summary

LEVELS = 4
META = DataMeta(name="toy", shape=(3,), levels=LEVELS, num_classes=None)
PROBS = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)  # P(pixel = k), k < LEVELS


class BinDensity(torch.nn.Module):
    """Independent pixels; pixel value ``k`` owns mass ``PROBS[k]`` of its bin, spread over
    the bin by the density ``g(u)`` on u in [0, 1). ``nll(k)`` is one draw of ``-log w``,
    ``w = p((k + u) / L) L^{-D}``, u ~ U[0, 1)^D, or u = 1/2 (the bin centre) when not
    ``dequantize``: the contract of a flow with uniform (or no) dequantization."""

    def __init__(self, log_g: object, dequantize: bool = True) -> None:
        super().__init__()
        self.log_g, self.dequantize = log_g, dequantize

    def nll(self, k: torch.Tensor) -> torch.Tensor:
        u = (
            torch.rand(k.shape, dtype=torch.float64)
            if self.dequantize
            else torch.full(k.shape, 0.5, dtype=torch.float64)
        )
        return -(PROBS.log()[k.long()] + self.log_g(u)).sum(dim=1)


def exact_bpd(k: torch.Tensor) -> torch.Tensor:
    return -PROBS.log()[k.long()].sum(dim=1) / (META.dims * math.log(2.0))


def spike(width: float, outside: float):
    """g puts 1 - ``outside`` of the bin's mass within ``width`` of the centre."""

    def log_g(u: torch.Tensor) -> torch.Tensor:
        inside = (u - 0.5).abs() < width / 2
        return torch.where(inside, math.log((1 - outside) / width), math.log(outside / (1 - width)))

    return log_g


K = torch.tensor([[0, 1, 2], [3, 3, 3], [1, 0, 2], [2, 2, 0]])


def test_a_density_flat_in_each_bin_scores_its_probability_exactly():
    scores = bin_scores(BinDensity(lambda u: torch.zeros_like(u)), K, META, draws=5)
    assert torch.allclose(scores.bound, exact_bpd(K)) and torch.allclose(
        scores.discrete, exact_bpd(K)
    )


def test_narrow_spikes_report_a_negative_density_but_a_probability_of_at_most_one():
    """Mass 0.999 within 1e-3 of each bin centre: the density at the centre says ~-8 bits/dim
    (no probability can), the bin-integrated score stays >= the exact -log P >= 0."""
    g = spike(width=1e-3, outside=1e-3)
    density = BinDensity(g, dequantize=False).nll(K) / (META.dims * math.log(2.0))
    scores = bin_scores(BinDensity(g), K, META, draws=16)
    assert (density < -7).all()
    assert (scores.discrete >= exact_bpd(K) - 1e-9).all() and (scores.discrete > 0).all()
    assert (scores.bound >= scores.discrete - 1e-12).all()
    assert (scores.discrete - density > 7).all()  # the gap check (a) measures


def test_the_bound_and_the_weighted_estimate_against_closed_forms():
    """g(u) = 2u: E[-log g] = 1 - log 2 nats a pixel above -log P (the bound), which the
    importance-weighted estimate removes as draws grow (E[g] = 1)."""
    k = K[:2]
    scores = bin_scores(BinDensity(lambda u: torch.log(2 * u)), k, META, draws=20_000)
    gap = (1 - math.log(2)) / math.log(2)  # bits/dim
    assert torch.allclose(
        scores.bound - exact_bpd(k), torch.full((2,), gap, dtype=torch.float64), atol=0.03
    )
    # w's relative SD is sqrt((4/3)^3 - 1) = 1.17: log mean w has SE 0.0083 nats = 0.004 bits/dim
    assert (scores.discrete - exact_bpd(k)).abs().max() < 0.02


class DequantizedBins(torch.nn.Module):
    """:class:`BinDensity` behind a flow's dequantizer contract: ``nll(k) = -log p((k + u)
    / L) L^{-D} + log q(u | k)`` with ``(y, log q) = dequantizer(k)``."""

    def __init__(self, log_g: object, width: float) -> None:
        super().__init__()
        self.log_g, self.dequantizer = log_g, BoxDequantization(LEVELS, width)

    def nll(self, k: torch.Tensor) -> torch.Tensor:
        y, log_q = self.dequantizer(k)
        u = y.double() * LEVELS - k
        return -(PROBS.log()[k.long()] + self.log_g(u)).sum(dim=1) + log_q


def test_a_box_matched_to_the_spikes_recovers_the_probability():
    """Mass 0.999 on the central 1e-3 of each bin: uniform draws over the bin miss it (an
    estimate ~10 bits/dim too high), draws from the central box of side 1e-3 weigh it
    exactly: -log P - log 0.999 a pixel."""
    g = spike(width=1e-3, outside=1e-3)
    whole = bin_scores(DequantizedBins(g, 1.0), K, META, draws=16)
    box = bin_scores(DequantizedBins(g, 1e-3), K, META, draws=16)
    expected = exact_bpd(K) - math.log2(0.999)
    assert torch.allclose(box.discrete, expected, atol=1e-4)
    assert torch.allclose(box.bound, expected, atol=1e-4)
    assert (whole.discrete > exact_bpd(K) + 3).all()
    wide = bin_scores(DequantizedBins(lambda u: torch.zeros_like(u), 1.0), K, META, draws=3)
    assert torch.allclose(wide.discrete, exact_bpd(K))  # width 1 is uniform dequantization


def test_weighted_estimate_from_draws():
    nlls = torch.tensor([[1.0, 3.0]], dtype=torch.float64) * (META.dims * math.log(2.0))
    s = bin_scores_from_nlls(nlls, META)
    assert s.bound.item() == pytest.approx(2.0) and s.draws == 2
    want = -math.log((math.exp(-1.0 * 3 * math.log(2)) + math.exp(-9 * math.log(2))) / 2)
    assert s.discrete.item() == pytest.approx(want / (3 * math.log(2)))


def planted(gap: float, worse: float, gain: float, se: float) -> Evidence:
    return Evidence(
        {
            "none_discrete_minus_density_bpd": gap,
            "none_discrete_minus_density_bpd_se": se,
            "none_minus_uniform_discrete_bpd": worse,
            "none_minus_uniform_discrete_bpd_se": se,
            "variational_gain_over_uniform_bpd": gain,
            "variational_gain_over_uniform_bpd_se": se,
        }
    )


def test_planted_evidence_gives_each_verdict():
    assert verdict_of(study.checks(planted(2.0, 1.0, 0.1, 0.005))) == "holds"
    # the 'none' density as good as its bin-integrated probability: a real probability
    assert verdict_of(study.checks(planted(0.0, 1.0, 0.1, 0.005))) == "does not hold"
    # the uniform model no better than 'none' in discrete bits/dim
    assert verdict_of(study.checks(planted(2.0, -0.3, 0.1, 0.005))) == "does not hold"
    # variational worse than uniform
    assert verdict_of(study.checks(planted(2.0, 1.0, -0.05, 0.005))) == "does not hold"
    # a gain within noise of its margin
    assert verdict_of(study.checks(planted(2.0, 1.0, study.GAIN_MIN, 0.005))) == "undecided"
    assert verdict_of(study.checks(planted(0.12, 1.0, 0.1, 0.05))) == "undecided"


def test_unmeasured_numbers_leave_the_checks_undecided():
    ev = planted(2.0, 1.0, 0.1, 0.005)
    ev["variational_gain_over_uniform_bpd"] = None
    assert verdict_of(study.checks(ev)) == "undecided"


@pytest.mark.parametrize("name", sorted(planted(1, 1, 1, 1)))
def test_every_name_the_checks_read_is_required(name):
    ev = planted(2.0, 1.0, 0.1, 0.005)
    del ev[name]
    with pytest.raises(KeyError):
        study.checks(ev)


def test_pixelwise_baseline_is_the_known_value():
    # README: the add-one histogram of the train split scored on test, 2.4376 bits/dim
    scored = study._pixelwise(load_dataset("digits"))
    assert scored.bpd == pytest.approx(2.4376, abs=1e-4) and 0 < scored.se < 0.1


def test_test_images_subset_is_fixed_and_in_order():
    ds = load_dataset("digits")
    assert study._images(ds, None).test is ds.test.x
    a, b = study._images(ds, 50), study._images(ds, 50)
    assert len(a.test) == 50 and torch.equal(a.test, b.test) and torch.equal(a.choose, b.choose)
    assert len(a.choose) == study.CHOOSE_IMAGES


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


def test_summary_gives_the_numbers_and_each_checks_status():
    ev = planted(2.0, 1.0, 0.1, 0.005)
    ev |= {
        "none_train_bpd_min": 2.32,
        "none_test_density_bpd": 2.1,
        "none_test_density_bpd_se": 0.01,
    }
    runs = {"none": ModeRun("none", StepRecorder().curves(), density=torch.tensor([2.1]))}
    text = summary(ev, runs, study.checks(ev))
    assert "not below 0" in text and "2.100 +- 0.01" in text
    assert "is not a probability: shown" in text and "beats uniform: shown" in text
    ev["none_discrete_minus_density_bpd"], ev["none_train_bpd_min"] = 0.0, -0.7
    text = summary(ev, runs, study.checks(ev))
    assert "(below 0" in text and "is not a probability: excluded" in text


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
    test_images=100,
    draws=2,
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("dequantization", "quick", tmp_path / "d", device.type)
    saved = json.loads((tmp_path / "d" / "results.json").read_text())
    ev = saved["evidence"]
    assert saved["study"] == "dequantization" and saved["claim"] == study.CLAIM
    assert saved["verdict"] in ("holds", "does not hold", "undecided")
    assert set(saved["checks"]) == set(study.checks(Evidence(ev)))
    for check in saved["checks"].values():
        assert {"effect", "se", "margin", "status"} <= set(check)
    for mode in ("uniform", "variational"):
        assert ev[f"{mode}_test_bpd_end"] > 0 and ev[f"{mode}_test_bound_bpd"] > 0
        assert ev[f"{mode}_test_discrete_bpd"] <= ev[f"{mode}_test_bound_bpd"] + 1e-9
        assert ev[f"{mode}_val_bpd_best"] > 0 and ev[f"{mode}_diverged"] == 0
    gain = ev["uniform_test_bound_bpd"] - ev["variational_test_bound_bpd"]
    assert ev["variational_gain_over_uniform_bpd"] == pytest.approx(gain)
    # 'none' either trained (its numbers present) or diverged (and says so)
    if ev["none_diverged"]:
        assert "diverged" in saved["summary"]
    else:
        gap = ev["none_test_discrete_bpd"] - ev["none_test_density_bpd"]
        assert ev["none_discrete_minus_density_bpd"] == pytest.approx(gap)
        assert ev["none_discrete_minus_density_bpd_se"] > 0
    table = saved["tables"][0]
    assert table["rows"][0][0] == "none" and table["rows"][0][1].startswith("NO")
    assert table["rows"][-1][-2] == pytest.approx(ev["pixelwise_test_bpd"])
    assert (tmp_path / "d" / "dequantization_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert saved["protocol"]["steps"] == 30 and "100 images" in saved["protocol"]["data"]


def test_a_diverged_none_run_is_scored_at_its_last_best_weights(tmp_path, monkeypatch):
    real = study.train_quietly

    def diverge_none(family, overrides, run, device, **kw):
        path = real(family, overrides, run, device, **kw)
        if overrides["model.dequantization"] == "none":
            raise TrainingDiverged("training diverged at step 31: loss = inf")
        return path

    monkeypatch.setattr(study, "train_quietly", diverge_none)
    result = study.run("quick", tmp_path, "cpu", settings=TINY)
    ev = result.evidence
    assert ev["none_diverged"] == 1 and ev["none_test_density_bpd"] is not None
    assert "non-finite loss" in result.summary and "last checkpoint" in result.summary
    assert result.checks["uniform_beats_none"].effect is not None


def test_registered():
    s = get_study("dequantization")
    assert s.name == "dequantization" and "bound" in s.claim
