"""Study ``dequantization``: what does a flow's likelihood do on discrete data without
dequantization, and how much does variational dequantization gain over uniform?

The same flow (``realnvp`` by default) is trained on the study's dataset (digits by
default, 17 levels) three times,
with ``model.dequantization`` none, uniform and variational. With noise u ~ q(u | k),
-log P(k) <= E_q[-log p((k + u) / L) + log q(u | k)] + D log L is a bound on the
discrete NLL, so its bits/dim can never go below 0 (Theis et al. 2016; Ho et al. 2019).
Without noise the same formula scores a density at the bin centres: nothing stops it
from growing without limit on the training points, and the number is not a bound.
Curves come from the runs' metrics.jsonl; test bits/dim from ``evaluate_run`` at the
last (EMA) weights and at the weights chosen on the validation part of train.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.data.scaling import to_index
from genlab.errors import TrainingDiverged
from genlab.family import get_family
from genlab.inference import evaluate_run
from genlab.metrics import model_bits_per_dim
from genlab.pixelwise import Pixelwise, PixelwiseConfig
from genlab.runs import load_data, load_run, make_config
from genlab.studies.base import (
    Budget,
    Study,
    StudyResult,
    describe_data,
    say,
    train_quietly,
    verdict_of,
)
from genlab.studies.checks import Evidence, at_least, greater, less
from genlab.studies.curves import StepRecorder, read_curves
from genlab.studies.datasets import DEFAULT_DATA, GENERIC, DataNeeds, settings_for
from genlab.studies.dequantization_report import ModeRun, curves_figure, evidence_table, summary
from genlab.train.run_folder import RunFolder

__all__ = ["MODES", "SETTINGS", "STUDY", "DequantSettings", "ModeRun", "checks", "run"]

MODES = ("none", "uniform", "variational")
QUESTION = (
    "What does a flow's likelihood on discrete data do without dequantization, and how much "
    "does variational dequantization gain over uniform dequantization?"
)
CLAIM = (
    "Without dequantization a flow's likelihood on discrete data is not a bound: it keeps "
    "climbing on the training points to below 0 bits/dim, which no probability of discrete "
    "data can reach. Uniform dequantization makes it a proper bound, and variational "
    "dequantization tightens that bound: lower test bits/dim than uniform."
)
GAIN_MIN = 0.01  # bits/dim: a variational gain smaller than this is within noise


@dataclass(frozen=True)
class DequantSettings:
    """The flow and its training; ``overrides`` are extra dotted config keys.

    ``none_steps``: the 'none' run's steps when they differ from ``steps``. Its likelihood
    only shows where it is going: at 28x28 and 256 levels it needs longer to cross 0 bits/dim
    than the bounds need to be compared (it leaves the uniform against variational
    comparison, which is at equal steps, untouched)."""

    steps: int
    preset: str = "realnvp"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    none_steps: int | None = None

    def steps_of(self, mode: str) -> int:
        return self.none_steps if mode == "none" and self.none_steps else self.steps


# Settings by dataset, then budget; GENERIC serves any other image data. Fashion-MNIST quick (a
# report on 2 CPU cores in 60 minutes): 18.6 min in the whole report (--jobs 2). Three realnvp runs
# at batch 64, ~15 (0.26 s a step without a dequantizer, 0.90 with the variational one, measured):
# uniform and variational 500 steps; 'none' 1500 (at 500 it had fallen to 2.32 bits/dim, still
# dropping 0.45 a quarter, not yet below 0); test bits/dim over 10,000 images twice a run and the
# 'none' model's uniform bound, ~5 (the variational runs' ~3 times slower).
FASHION = {
    "quick": DequantSettings(steps=500, none_steps=1500),
    "full": DequantSettings(steps=3000),  # to be tuned
}
SETTINGS: dict[str, dict[str, DequantSettings]] = {
    "digits": {
        "quick": DequantSettings(steps=800),  # 2.2 min measured on one core
        "full": DequantSettings(steps=3000),  # the flow family's default
    },
    "fashion-mnist": FASHION,
    GENERIC: FASHION,
}


def run(
    budget: Budget,
    out: Path,
    device: str,
    data: str = DEFAULT_DATA,
    settings: DequantSettings | None = None,
) -> StudyResult:
    """Run the study on ``data`` at ``budget`` (or with explicit ``settings``) into ``out``."""
    s = settings or settings_for(SETTINGS, data, budget)
    dataset = load_dataset(data)
    results = {mode: _train_mode(mode, s, data, out / "runs", device) for mode in MODES}
    pixelwise = _pixelwise_bpd(dataset)
    ev = _evidence(results, pixelwise)
    return StudyResult(
        study="dequantization",
        question=QUESTION,
        claim=CLAIM,
        verdict=verdict_of(checks(ev, results["none"]), budget=budget),
        summary=summary(ev, results),
        evidence=ev,
        tables=[evidence_table(ev, results, pixelwise, dataset.name)],
        figures=[curves_figure(results, pixelwise, out, dataset.name)],
        protocol=protocol(s, dataset),
    )


def checks(ev: Evidence, none: ModeRun) -> dict[str, bool | None]:
    """The claim's checks, read off the evidence and the 'none' run; None where a
    number is missing."""
    return {
        "none_below_zero": _none_below_zero(ev, none),
        "none_still_climbing": _none_climbing(ev, none),
        "variational_gains": at_least(ev, "variational_gain_over_uniform_bpd", GAIN_MIN),
    }


def protocol(s: DequantSettings, dataset: Dataset) -> dict[str, Any]:
    """How the numbers were measured; the data's facts read off ``dataset``."""
    train = make_config("flow", overrides=_overrides("uniform", s, dataset.name)).train
    return {
        "data": f"{describe_data(dataset)}; train minus a {train.val_fraction:.0%} "
        f"validation part (seed {train.seed}); test = the whole test split",
        "model": f"flow, model.preset={s.preset}, family defaults otherwise",
        "steps": s.steps,
        "none_steps": s.steps_of("none"),
        "overrides": dict(s.overrides),
        "test_weights": "end = EMA weights at the last step; selected = best validation bpd",
        "dequantization_draws": "one draw of u per test image, seed 0",
        "seed": 0,
    }


def _overrides(mode: str, s: DequantSettings, data: str) -> dict[str, Any]:
    return {
        "data.name": data,
        "model.preset": s.preset,
        "model.dequantization": mode,
        "train.steps": s.steps_of(mode),
        **s.overrides,
    }


def _train_mode(mode: str, s: DequantSettings, data: str, runs: Path, device: str) -> ModeRun:
    say(
        "dequantization",
        f"training {s.preset} on {data}, dequantization={mode} ({s.steps_of(mode)} steps)",
    )
    overrides = _overrides(mode, s, data)
    recorder = StepRecorder()
    try:
        path = train_quietly("flow", overrides, runs / mode, device, callbacks=[recorder])
    except TrainingDiverged as err:
        say("dequantization", f"dequantization={mode} diverged: {err}")
        return ModeRun(mode, recorder.curves(), diverged=str(err))
    result = ModeRun(mode, read_curves(path), run=path)
    folder = RunFolder(path)
    end = "ema" if folder.has_weights("ema") else "model"
    result.test_end = evaluate_run(load_run(path, weights=end, device=device), ["bpd"])["bpd"]
    selected = "best" if folder.has_weights("best") else end
    best = load_run(path, weights=selected, device=device)
    result.test_best = evaluate_run(best, ["bpd"])["bpd"]
    if mode == "none":
        result.test_as_uniform = _as_uniform_bound(best)
    return result


def _as_uniform_bound(loaded: Any) -> float:
    """Test bits/dim of a 'none' model's density scored with the uniform bound: the
    same weights in a flow with ``dequantization=uniform`` (no extra parameters)."""
    cfg = dataclasses.replace(loaded.config.model, dequantization="uniform")
    model = get_family("flow").build(cfg, loaded.meta)
    model.load_state_dict(loaded.model.state_dict())
    device = next(loaded.model.parameters()).device
    model.to(device).eval()
    test = load_data(loaded.config.data).test.x.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return model_bits_per_dim(model, test, loaded.meta, device=device)


def _pixelwise_bpd(ds: Dataset) -> float:
    """Test bits/dim of the add-one per-pixel histogram of the train split (the pixelwise
    family's closed-form optimum): the baseline to beat."""
    levels, dims = int(ds.meta.levels or 0), ds.meta.dims
    k = to_index(ds.train.x, levels).reshape(len(ds.train.x), -1)  # (N, D)
    flat = (torch.arange(dims) * levels + k).flatten()  # (N * D,) index of (pixel, level)
    counts = torch.bincount(flat, minlength=dims * levels).reshape(dims, levels).float()
    model = Pixelwise(PixelwiseConfig(prior=1.0), ds.meta)
    with torch.no_grad():
        model.logits.copy_(torch.log(counts + 1.0))
    return model_bits_per_dim(model, ds.test.x, ds.meta)


def _evidence(results: dict[str, ModeRun], pixelwise: float) -> Evidence:
    ev = Evidence({"pixelwise_test_bpd": pixelwise})
    for mode, r in results.items():
        best = r.curves.best_val()
        final = r.curves.last_train()
        ev[f"{mode}_train_bpd_final"] = final
        ev[f"{mode}_train_bpd_min"] = r.curves.min_train()
        ev[f"{mode}_val_bpd_best"] = best[1] if best else None
        ev[f"{mode}_best_step"] = best[0] if best else None
        ev[f"{mode}_test_bpd_end"] = r.test_end
        ev[f"{mode}_test_bpd_selected"] = r.test_best
        gap = None if r.test_end is None or final is None else r.test_end - final
        ev[f"{mode}_test_minus_train_bpd"] = gap
        ev[f"{mode}_diverged"] = 1.0 if r.diverged else 0.0
    none = results["none"].curves
    three_quarters, final = none.train_at_fraction(0.75), none.last_train()
    drop = None if three_quarters is None or final is None else three_quarters - final
    if results["none"].diverged:  # a curve cut short says nothing about its last quarter
        drop = None
    ev["none_train_drop_last_quarter_bpd"] = drop
    ev["none_test_bpd_as_uniform_bound"] = results["none"].test_as_uniform
    uni, var = ev["uniform_test_bpd_selected"], ev["variational_test_bpd_selected"]
    ev["variational_gain_over_uniform_bpd"] = None if uni is None or var is None else uni - var
    return ev


def _none_below_zero(ev: Evidence, none: ModeRun) -> bool | None:
    """The 'none' training number went below 0 bits/dim (or to infinity)."""
    if none.diverged:
        return True
    return less(ev, "none_train_bpd_min", 0.0)


def _none_climbing(ev: Evidence, none: ModeRun) -> bool | None:
    """Its likelihood was still climbing over the last quarter of training; not
    measured (None) when training stopped on a non-finite loss, which could have
    other causes than the likelihood's growth."""
    if none.diverged:
        return None
    return greater(ev, "none_train_drop_last_quarter_bpd", 0.0)


STUDY = Study(
    name="dequantization",
    question=QUESTION,
    claim=CLAIM,
    run=run,
    needs=DataNeeds(why="a flow's bits/dim on discrete data"),
    cost=2.2,
)
