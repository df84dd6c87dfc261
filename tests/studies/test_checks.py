"""The checks of studies/checks.py: an effect against its margin with 2 standard errors,
three outcomes at any budget, and the verdict read off them. Each rule is tested with
planted evidence on both sides of its boundary and with a brute-force simulation of
what 2 SE means."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.studies import reverse_steps
from genlab.studies.base import StudyResult
from genlab.studies.checks import (
    Check,
    Evidence,
    difference,
    fact,
    ratio,
    value,
    verdict_line,
    verdict_of,
)


def ev_of(**numbers: float | None) -> Evidence:
    return Evidence(numbers)


def test_difference_passes_fails_and_stays_undecided_by_two_se():
    ev = ev_of(a=1.0, a_se=0.1, b=0.5, b_se=0.0)
    assert difference(ev, "a", "b").status == "pass"  # 0.5 - 2 * 0.1 > 0
    assert difference(ev, "a", "b", margin=0.25).status == "pass"  # 0.3 > 0.25
    assert difference(ev, "a", "b", margin=0.35).status == "undecided"  # 0.3 < 0.35 < 0.7
    assert difference(ev, "a", "b", margin=0.75).status == "fail"  # 0.5 + 0.2 < 0.75
    assert difference(ev, "b", "a").status == "fail"  # the other direction is excluded
    # the two SEs add in quadrature
    ev2 = ev_of(a=1.0, a_se=0.3, b=0.0, b_se=0.4)
    check = difference(ev2, "a", "b")
    assert check.se == pytest.approx(0.5) and check.status == "undecided"


def test_an_effect_within_noise_is_undecided_with_the_budget_that_would_decide_it():
    ev = ev_of(x=0.579, x_se=0.02, y=0.575, y_se=0.02)  # digits' MAP@R "win"
    check = difference(ev, "x", "y")
    assert check.status == "undecided"
    # SE ~ 1/sqrt(n): the gap is 4e-3, 2 SE is 2 * 0.0283, so (2 SE / gap)^2 ~ 200x the data
    assert check.budget_factor == pytest.approx((2 * math.hypot(0.02, 0.02) / 0.004) ** 2)
    line = verdict_line({"map": check})
    assert line.startswith("undecided: map: effect 0.004") and "x the data" in line
    on_margin = difference(ev_of(x=1.0, x_se=0.1), "x", margin=1.0)
    assert on_margin.budget_factor == math.inf and "no budget" in verdict_line({"m": on_margin})
    assert difference(ev, "x", "y", margin=-1.0).budget_factor is None  # decided


def test_the_budget_factor_predicts_the_sample_size_that_decides():
    """Brute force: a mean of n noisy draws is undecided at n; at budget_factor * n
    draws (same effect, SE shrunk by 1/sqrt), the check decides."""
    gen = torch.Generator().manual_seed(0)
    effect, sigma, n = 0.1, 1.0, 100
    draws = effect + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
    ev = ev_of(m=float(draws.mean()), m_se=float(draws.std() / math.sqrt(n)))
    check = difference(ev, "m")
    assert check.status == "undecided", check
    bigger = int(math.ceil(check.budget_factor * n * 1.05))
    se = float(draws.std()) / math.sqrt(bigger)
    assert Check("m", check.effect, se, 0.0).status == "pass"


def test_ratio_works_on_the_log_scale():
    ev = ev_of(one=60.0, one_se=3.0, many=10.0, many_se=0.5)
    check = ratio(ev, "one", "many", 3.0)
    assert check.effect == pytest.approx(math.log(6.0))
    assert check.se == pytest.approx(math.hypot(0.05, 0.05))
    assert check.status == "pass" and check.scale == "log ratio"
    assert ratio(ev, "one", "many", 8.0).status == "fail"  # log 6 + 2 * 0.07 < log 8
    assert ratio(ev, "one", "many", 6.3).status == "undecided"
    assert "ratio 6" in check.describe()


def test_facts_have_no_noise():
    assert fact(1e-3 - 1e-9, "log-det error below 1e-3").status == "pass"
    assert fact(1e-3 - 2e-3, "log-det error below 1e-3").status == "fail"


def test_unmeasured_numbers_leave_a_check_undecided_never_passed():
    ev = ev_of(a=1.0, a_se=0.1, gone=None, gone_se=None, nan=math.nan, nan_se=0.1)
    for other in ("gone", "nan"):
        assert difference(ev, "a", other).status == "undecided"
        assert ratio(ev, "a", other, 2.0).status == "undecided"
        assert difference(ev, "a", other).describe() == "not measured"
    assert value(ev, "gone") is None and value(ev, 3) == 3.0


def test_every_number_a_check_reads_needs_its_standard_error():
    with pytest.raises(KeyError, match="no evidence named 'a_se'"):
        difference(ev_of(a=1.0), "a")
    ev = ev_of(ddpm_1000_fd=3.0, ddpm_1000_fd_se=0.1)
    with pytest.raises(KeyError, match="ddpm_100_fd.*closest: ddpm_1000_fd"):
        ev["ddpm_100_fd"]
    with pytest.raises(KeyError, match="no evidence named 'ddpm_1000_df'"):
        difference(ev, "ddpm_1000_df")


def test_the_verdict_is_read_off_the_checks():
    passed, failed = fact(1.0, "p"), fact(-1.0, "f")
    undecided = Check("u", 0.1, 0.1, 0.0)
    assert verdict_of({"a": passed, "b": passed}) == "holds"
    assert verdict_of({"a": passed, "b": undecided}) == "undecided"
    assert verdict_of({"a": undecided, "b": failed}) == "does not hold"  # never hidden
    assert (
        verdict_line({"a": passed, "b": failed})
        == "does not hold: b: effect -1 +- 0 against margin 0"
    )
    with pytest.raises(AssertionError):
        verdict_of({})


def test_a_study_result_saves_its_checks_and_reads_its_verdict_off_them(tmp_path):
    checks = {"c": difference(ev_of(x=1.0, x_se=0.1), "x")}
    result = StudyResult("s", "q?", "c", "summary", {"x": 1.0, "x_se": 0.1}, checks)
    assert result.verdict == "holds"
    result.write(tmp_path)
    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw["verdict"] == "holds" and raw["checks"]["c"]["status"] == "pass"
    assert raw["checks"]["c"]["effect"] == 1.0 and raw["checks"]["c"]["se"] == 0.1
    back = StudyResult.from_dict(raw)
    assert back.verdict == "holds" and back.checks["c"] == checks["c"]
    assert type(back.evidence) is Evidence
    with pytest.raises(KeyError, match="x_df"):
        back.evidence["x_df"]


def reverse_steps_evidence(**changes: float | None) -> Evidence:
    numbers = {
        "oneshot_1_fd": 90.0,
        "dpmpp_20_fd": 10.0,
        "ddpm_100_fd": 8.0,
        "ddpm_10_fd": 20.0,
        "ddim_20_fd": 9.0,
        "ddim_2_fd": 15.0,
        "student_1_fd": 20.0,
    }
    ev = {**numbers, **{f"{k}_se": 0.05 * v for k, v in numbers.items()}}
    return Evidence({**ev, **changes})


def test_reverse_steps_checks_hold_fail_and_stay_undecided():
    assert verdict_of(reverse_steps.checks(reverse_steps_evidence())) == "holds"
    # planted failure: the one-shot baseline as good as the chain
    failed = reverse_steps_evidence(oneshot_1_fd=11.0)
    assert reverse_steps.checks(failed)["oneshot_far_worse"].status == "fail"
    assert verdict_of(reverse_steps.checks(failed)) == "does not hold"
    # more steps do not help the ancestral chain: 100 steps worse than 10
    assert verdict_of(reverse_steps.checks(reverse_steps_evidence(ddpm_100_fd=25.0))) == (
        "does not hold"
    )
    # within noise: 10 % better with a 10 % SE on each side
    noisy = reverse_steps_evidence(ddim_2_fd=10.0, ddim_2_fd_se=1.0, ddim_20_fd_se=0.9)
    assert reverse_steps.checks(noisy)["ddim_more_steps_help"].status == "undecided"
    assert verdict_of(reverse_steps.checks(noisy)) == "undecided"
    # a student whose one call is no better than the one-shot mean
    copy = reverse_steps_evidence(student_1_fd=80.0)
    assert reverse_steps.checks(copy)["student_skips_steps"].status == "fail"
    # a row the plan did not run
    gone = reverse_steps_evidence(ddim_20_fd=None, ddim_20_fd_se=None)
    assert verdict_of(reverse_steps.checks(gone)) == "undecided"


def test_reverse_steps_reads_every_name_it_checks():
    good = reverse_steps_evidence()
    for name in good:
        with pytest.raises(KeyError, match=name):
            reverse_steps.checks(Evidence({k: v for k, v in good.items() if k != name}))
