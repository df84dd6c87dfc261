"""The three-valued checks of studies/checks.py and the evidence record: a False beats
an unknown beats a True, and a misspelt evidence name raises instead of turning a verdict
into "inconclusive"."""

from __future__ import annotations

import itertools

import pytest

from genlab.studies import contrastive, coupling, reverse_steps, self_supervised, vae_vs_diffusion
from genlab.studies.base import StudyResult, verdict_of
from genlab.studies.checks import (
    Evidence,
    all_of,
    any_of,
    at_least,
    at_most,
    greater,
    less,
    value,
)

VALUES = (True, None, False)


def kleene_and(values: tuple[bool | None, ...]) -> bool | None:
    """Truth table by rank: False (0) < unknown (1) < True (2); AND is the minimum."""
    rank = {False: 0, None: 1, True: 2}
    return min(values, key=rank.__getitem__, default=True)


def kleene_or(values: tuple[bool | None, ...]) -> bool | None:
    rank = {False: 0, None: 1, True: 2}
    return max(values, key=rank.__getitem__, default=False)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_all_of_and_any_of_over_every_combination(n):
    for combo in itertools.product(VALUES, repeat=n):
        assert all_of(combo) is kleene_and(combo), combo
        assert any_of(combo) is kleene_or(combo), combo
        assert all_of(iter(combo)) is kleene_and(combo)  # generators too


def test_false_beats_unknown_beats_true():
    assert all_of([True, None]) is None and all_of([None, True]) is None
    assert all_of([False, None]) is False and all_of([None, False]) is False
    assert all_of([True, False, None]) is False
    assert any_of([True, None]) is True and any_of([False, None]) is None
    assert all_of([]) is True and any_of([]) is False


def test_comparisons_are_unknown_when_a_number_is_not_measured():
    ev = Evidence({"a": 1.0, "b": 2.0, "gone": None})
    assert less(ev, "a", "b") is True and less(ev, "b", "a") is False
    assert less(ev, "a", "b", factor=2.0) is False  # 2 * 1 < 2 fails
    assert greater(ev, "b", "a") is True and greater(ev, "a", "a") is False
    assert at_least(ev, "a", "a") is True and at_least(ev, "a", "b", factor=0.5) is True
    assert at_least(ev, "a", "b", offset=-1.0) is True and at_least(ev, "a", "b") is False
    assert at_most(ev, "b", "a", factor=2.0) is True and at_most(ev, "b", "a") is False
    assert less(ev, "a", 1.5) is True and greater(ev, "a", 0.0) is True  # thresholds
    for check in (less, greater, at_least, at_most):
        assert check(ev, "gone", "a") is None and check(ev, "a", "gone") is None
    assert value(ev, "gone") is None and value(ev, 3) == 3.0


def test_a_misspelt_evidence_name_raises_naming_the_closest():
    ev = Evidence({"ddpm_1000_fd": 3.0, "ddpm_10_fd": 5.0})
    with pytest.raises(KeyError, match="ddpm_100_fd.*closest: ddpm_1000_fd"):
        ev["ddpm_100_fd"]
    for check in (less, greater, at_least, at_most):
        with pytest.raises(KeyError, match="no evidence named 'ddpm_1000_df'"):
            check(ev, "ddpm_1000_df", "ddpm_10_fd")
    with pytest.raises(KeyError):  # a plain dict is read as strictly
        less({"a": 1.0}, "a", "b")


def test_a_study_result_holds_its_evidence_as_a_record():
    result = StudyResult("s", "q?", "c", "holds", "", {"x_fd": 1.0})
    assert isinstance(result.evidence, Evidence) and result.to_dict()["evidence"] == {"x_fd": 1.0}
    with pytest.raises(KeyError, match="x_fd"):
        result.evidence["x_df"]
    assert type(StudyResult.from_dict(result.to_dict()).evidence) is Evidence


def reverse_steps_evidence() -> dict[str, float | None]:
    return {
        "oneshot_1_fd": 90.0,
        "dpmpp_20_fd": 10.0,
        "ddpm_1000_fd": 8.0,
        "ddpm_10_fd": 20.0,
        "ddim_20_fd": 9.0,
        "ddim_2_fd": 15.0,
    }


def test_reverse_steps_checks():
    ev = Evidence(reverse_steps_evidence())
    assert reverse_steps.checks(ev) == dict.fromkeys(("oneshot_far_worse", "more_steps_help"), True)
    ev["ddim_20_fd"] = None  # not in the plan: unknown ...
    assert reverse_steps.checks(ev)["more_steps_help"] is None
    ev["ddpm_1000_fd"] = 30.0  # ... but a measured failure beats it
    assert reverse_steps.checks(ev)["more_steps_help"] is False
    assert verdict_of(reverse_steps.checks(ev), budget="full") == "does not hold"


@pytest.mark.parametrize(
    ("check", "good"),
    [
        (reverse_steps.checks, reverse_steps_evidence()),
        (
            vae_vs_diffusion.checks,
            {
                "vae_mean_sharpness": 0.3,
                "diffusion_20_sharpness": 0.9,
                "diffusion_20_fd": 2.0,
                "vae_mean_fd": 9.0,
                "vae_sample_seconds_per_image": 1e-6,
                "diffusion_1000_seconds_per_image": 1e-2,
            },
        ),
        (
            self_supervised.checks,
            {"scratch_mean_10pct": 0.8, "pixels_mean_10pct": 0.85, "best_probe_mean_10pct": 0.9},
        ),
        (
            lambda ev: contrastive.checks(ev, "x"),
            {
                "pixels_unseen_map_at_r": 0.57,
                "pixels_unseen_recall_at_1": 0.97,
                "x_unseen_map_at_r": 0.6,
                "x_unseen_recall_at_1": 0.961,
                "x_seen_map_at_r": 0.8,
                "pixels_seen_map_at_r": 0.72,
                "untrained_seen_map_at_r": 0.6,
            },
        ),
    ],
)
def test_every_study_reads_every_name_it_checks(check, good):
    assert all(v is True for v in check(Evidence(good)).values()), check(Evidence(good))
    for name in good:  # drop any one name: an error, never a silent "inconclusive"
        with pytest.raises(KeyError, match=name):
            check(Evidence({k: v for k, v in good.items() if k != name}))


def test_coupling_checks():
    ev = Evidence({"max_abs_logdet_diff_nats": 1e-9})
    for k in coupling.LAYERS:
        ev[f"exact_cost_exponent_{k}"] = 1.0
        ev[f"brute_cost_exponent_{k}"] = 2.5
        ev[f"brute_over_exact_at_max_dim_{k}"] = 1000.0
    assert all(v is True for v in coupling.checks(ev).values())
    ev[f"brute_cost_exponent_{coupling.LAYERS[0]}"] = 1.1  # too close to the exact cost
    assert coupling.checks(ev)["brute_force_grows_faster"] is False
    ev["max_abs_logdet_diff_nats"] = 1e-3
    assert verdict_of(coupling.checks(ev), budget="quick", firm=["logdet_agrees"]) == (
        "does not hold"
    )
