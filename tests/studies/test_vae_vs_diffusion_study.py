"""The vae_vs_diffusion study on tiny models: every row scored, the checks read off the
evidence, the figures written; the checks on planted evidence hold, fail and stay
undecided as they should."""

from __future__ import annotations

import json

import pytest

from genlab.studies import get_study, run_study
from genlab.studies import vae_vs_diffusion as study
from genlab.studies import vae_vs_diffusion_report as report
from genlab.studies.checks import Evidence, verdict_of
from genlab.studies.vae_vs_diffusion_report import HALVES, LABELS

TINY = study.CompareSettings(
    train_steps=10,
    n_samples=24,
    nll_samples=8,
    student_steps=3,
    overrides=(
        ("vae", "model.hidden", 32),
        ("vae", "train.eval_every", 5),
        ("flow", "model.hidden", 32),
        ("flow", "model.steps", 2),
        ("flow", "train.eval_every", 5),
        ("diffusion", "model.channels", 8),
        ("diffusion", "model.multipliers", "1,2"),
        ("diffusion", "model.attention", "1"),
        ("diffusion", "model.timesteps", 20),
        ("diffusion", "model.nll_timesteps", 4),
    ),
)


def test_tiny_run_writes_results_and_figures(tmp_path, monkeypatch, device):
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", TINY)
    run_study("vae_vs_diffusion", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev = saved["evidence"]
    assert saved["study"] == "vae_vs_diffusion" and saved["claim"] == study.CLAIM
    for name in (*study.METHODS, "floor"):
        assert ev[f"{name}_fd"] > 0 and ev[f"{name}_fd_se"] > 0
        assert 0 <= ev[f"{name}_precision"] <= 1 and ev[f"{name}_sharpness"] > 0
        assert ev[f"{name}_edge_ratio_se"] > 0 and ev[f"{name}_power_high_ratio"] > 0
    for name in study.METHODS:
        assert ev[f"{name}_seconds_per_image"] > 0
    for family in ("vae", "flow", "diffusion"):
        assert 0 < ev[f"{family}_test_bpd"] < 20 and ev[f"{family}_train_s"] > 0
    ratio = ev["diffusion_1000_seconds_per_image"] / ev["vae_sample_seconds_per_image"]
    assert ev["ddpm1000_over_vae_time"] == pytest.approx(ratio)
    # the verdict is read off the saved checks, each with its numbers, none on the speed
    assert set(saved["checks"]) == set(HALVES)
    for check in saved["checks"].values():
        assert {"effect", "se", "margin", "status"} <= set(check)
    found = study.checks(Evidence(ev))
    assert saved["verdict"] == verdict_of(found)
    assert {k: c["status"] for k, c in saved["checks"].items()} == {
        k: c.status for k, c in found.items()
    }
    assert "not checked" in saved["summary"] and all(h in saved["summary"] for h in HALVES.values())
    quality, blur = saved["tables"]
    for table in (quality, blur):
        assert [r[0] for r in table["rows"][:-1]] == [LABELS[name] for name in study.METHODS]
        assert table["rows"][-1][0].startswith("floor")
        assert {len(r) for r in table["rows"]} == {len(table["columns"])}
    shown = {c for t in (quality, blur) for r in t["rows"] for c in r[1:]}
    recorded = set(ev.values()) | {1000 * ev[f"{n}_seconds_per_image"] for n in study.METHODS}
    assert {c for c in shown if isinstance(c, float)} <= recorded  # every number is evidence
    for fig in saved["figures"]:
        assert (tmp_path / "r" / fig["file"]).read_bytes()[:4] == b"\x89PNG"
    assert len(saved["figures"]) == 5


def test_slow_row_timed_only(tmp_path, monkeypatch, device):
    """``slow_timed``: the 1000-step row is timed on that many images and left out of the
    scored rows and tables; the time ratio stays."""
    from dataclasses import replace

    quick = replace(TINY, flow=False, slow_timed=4)
    monkeypatch.setitem(study.SETTINGS["digits"], "quick", quick)
    run_study("vae_vs_diffusion", "quick", tmp_path / "r", device.type)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    ev = saved["evidence"]
    assert ev["diffusion_1000_fd"] is None and ev["diffusion_1000_seconds_per_image"] > 0
    assert ev["diffusion_20_fd"] > 0 and ev["ddpm1000_over_vae_time"] > 0
    for table in saved["tables"]:
        assert LABELS["diffusion_1000"] not in [r[0] for r in table["rows"]]
    assert "timed on 4 images" in saved["protocol"]["timing"]
    assert "DDPM 1000 timed, not scored" in saved["summary"]


def planted(
    vae_edge: float = 0.3,
    mean_edge: float = 0.3,
    diffusion_edge: float = 0.9,
    edge_se: float = 0.02,
    vae_fd: float = 20.0,
    diffusion_fd: float = 5.0,
    fd_se: float = 0.5,
    student_edge: float = 0.8,
) -> Evidence:
    """Evidence with exactly the names the checks read (a clear success by default)."""
    return Evidence(
        {
            "student_1_edge_ratio": student_edge,
            "student_1_edge_ratio_se": edge_se,
            "vae_sample_edge_ratio": vae_edge,
            "vae_mean_edge_ratio": mean_edge,
            "diffusion_20_edge_ratio": diffusion_edge,
            "vae_sample_edge_ratio_se": edge_se,
            "vae_mean_edge_ratio_se": edge_se,
            "diffusion_20_edge_ratio_se": edge_se,
            "vae_sample_fd": vae_fd,
            "diffusion_20_fd": diffusion_fd,
            "vae_sample_fd_se": fd_se,
            "diffusion_20_fd_se": fd_se,
        }
    )


def test_planted_success_holds():
    found = study.checks(planted())
    assert verdict_of(found) == "holds" and {c.status for c in found.values()} == {"pass"}
    assert set(found) == set(HALVES)


@pytest.mark.parametrize(
    ("plant", "failed"),
    [
        # noisy VAE samples as sharp as the data by edge energy: not blurrier
        ({"vae_edge": 1.0, "student_edge": 1.2}, "vae_samples_blurrier"),
        # a one-pass student as blurred as the VAE: the one pass would be the cause
        ({"student_edge": 0.3}, "one_pass_student_sharper"),
        # a sharp decoder mean (a code that pins x down)
        ({"mean_edge": 0.95}, "vae_mean_blurrier"),
        # the VAE's FD as low as the diffusion model's
        ({"vae_fd": 5.0}, "diffusion_fd_lower"),
    ],
)
def test_planted_failure_does_not_hold(plant, failed):
    found = study.checks(planted(**plant))
    assert verdict_of(found) == "does not hold" and found[failed].status == "fail"
    assert [k for k, c in found.items() if c.status == "fail"] == [failed]


NEAR_BLUR = 0.9 - study.BLUR_MARGIN - 0.05  # a VAE edge ratio 0.05 past the margin
NEAR_FD = 5.0 * study.FD_FACTOR * 1.1  # a VAE FD 10% past the margin


@pytest.mark.parametrize(
    ("plant", "undecided"),
    [
        # an edge gap 0.05 past the margin, SE 0.05 * sqrt(2): within 2 SE
        ({"vae_edge": NEAR_BLUR, "edge_se": 0.05}, "vae_samples_blurrier"),
        ({"mean_edge": NEAR_BLUR, "edge_se": 0.05}, "vae_mean_blurrier"),
        # an FD ratio 1.1 x the margin, log-scale SE ~0.11 (log 1.1 = 0.095)
        ({"vae_fd": NEAR_FD, "fd_se": 0.5}, "diffusion_fd_lower"),
    ],
)
def test_planted_effect_within_noise_is_undecided(plant, undecided):
    found = study.checks(planted(**plant))
    assert verdict_of(found) == "undecided" and found[undecided].status == "undecided"


def test_a_blur_inside_the_margin_is_not_a_pass():
    """A gap measured exactly but smaller than the margin fails."""
    found = study.checks(planted(vae_edge=0.9 - study.BLUR_MARGIN / 2, edge_se=0.0))
    assert found["vae_samples_blurrier"].status == "fail"


@pytest.mark.parametrize("name", sorted(planted()))
def test_every_name_the_checks_read_is_required(name):
    ev = planted()
    del ev[name]
    with pytest.raises(KeyError, match=name):
        study.checks(ev)


def test_an_unmeasured_fd_is_undecided():
    found = study.checks(planted() | {"vae_sample_fd": None})
    assert found["diffusion_fd_lower"].status == "undecided"


def test_registered():
    s = get_study("vae_vs_diffusion")
    assert s.name == "vae_vs_diffusion" and "blurrier" in s.claim


def test_protocol_names_the_models_the_dataset_resolves(tiny_fashion):
    """28x28 images get glow and a 16-channel U-Net by the family defaults; 8x8 digits
    realnvp and 24 channels: the protocol reads them off the configs. Fashion-MNIST's
    quick budget trains no flow (no check reads it), and its protocol names none."""
    resolved = {
        (d, b): report.models_text(study._configs(study.SETTINGS[d][b], d), d)
        for d in ("digits", "fashion-mnist")
        for b in ("quick", "full")
    }
    digits = resolved["digits", "quick"]
    assert "flow (realnvp," in digits and "U-Net 24 channels" in digits
    assert "flow (glow," in resolved["fashion-mnist", "full"]
    fashion = resolved["fashion-mnist", "quick"]
    assert "flow" not in fashion and "U-Net 16 channels" in fashion


def test_without_the_flow_no_flow_row_is_drawn():
    models = {"vae": object(), "diffusion": object()}
    assert "flow" not in study._draws(models) and "student_1" not in study._draws(models)
    every = models | {"flow": object(), "student": object()}
    assert list(study._draws(every)) == list(study.METHODS)


def test_the_page_without_the_flow(tmp_path):
    """Tables, figures and summary drawn from evidence with no flow row: no flow shown."""
    rows = [m for m in study.METHODS if m != "flow"]
    ev = Evidence(
        {f"{r}_{k}": 0.5 + 0.1 * i for r in [*rows, "floor"] for i, k in enumerate(study.ROW_KEYS)}
    )
    ev |= {f"{r}_seconds_per_image": 0.01 for r in rows}
    ev |= {f"{f}_{k}": 1.5 for f in ("vae", "diffusion") for k in ("test_bpd", "train_s")}
    ev["ddpm1000_over_vae_time"] = 1000.0
    text = report.summary(ev, study.checks(ev))
    assert "flow" not in text and "Measured, not checked" in text
    for table in (report.quality_table(ev, "digits"), report.blur_table(ev)):
        assert [r[0] for r in table.rows[:-1]] == [LABELS[r] for r in rows]
    for fig in (report.scores_figure(ev, tmp_path), report.spectrum_figure(ev, tmp_path)):
        assert (tmp_path / fig.file).read_bytes()[:4] == b"\x89PNG"
