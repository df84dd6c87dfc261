"""Study ``reverse_steps``: why does reverse diffusion need its intermediate steps?

One diffusion model is trained on the study's dataset (digits by default); its reverse
process is then run with the ancestral (DDPM), DDIM and DPM-Solver++(2M) samplers at 1 to
1000 network evaluations (NFE), and with the one-shot baseline that predicts x_0 from x_T
in a single call. Each sample set is scored against the TEST split (FD, KID, precision,
recall in the features of the classifier trained on the dataset's own train split), next
to the floor: as many real train images scored the same way.

Why one call fails: the network's best guess of x_0 from pure noise is the posterior
mean E[x_0 | x_T], an average over every image (a blur), not a sample (with the default
v prediction the one-shot picture is that mean; an eps network divides its error by
alpha_T ~ 0 there and gives clipped noise instead). The chain
samples by making many small denoising moves, each near-Gaussian, so each can be
estimated well (Ho et al. 2020; Song et al. 2021; Lu et al. 2022).

How the steps can still be skipped: a consistency student (Song et al. 2023) is distilled
from the trained model's probability-flow ODE (``genlab distill RUN --method consistency``,
the diffusion model seen on the linear path): it learns, from the teacher's own
intermediate steps, to map any point of an ODE trajectory to its end. Its one call is then a
sample, not the posterior mean; it is scored at 1, 2 and 4 calls beside the chain, and its
distillation time is recorded against the teacher's training time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.data.scaling import from_centered
from genlab.metrics.evaluate import evaluate_samples, reference_values
from genlab.metrics.features import get_feature_net
from genlab.runs import load_run
from genlab.studies.base import (
    Budget,
    Study,
    StudyResult,
    describe_data,
    say,
    train_quietly,
)
from genlab.studies.checks import Check, Evidence, ratio
from genlab.studies.datasets import DEFAULT_DATA, GENERIC, DataNeeds, settings_for
from genlab.studies.reverse_steps_report import (
    chain_figure,
    curve_figure,
    grids_figure,
    quality_table,
    reverse_chain,
    summary,
    terms_figure,
    vlb_terms,
)
from genlab.studies.sampling import distil_student, sync, timed

__all__ = ["SAMPLERS", "SETTINGS", "STUDY", "StepsSettings", "checks", "protocol", "run"]

SAMPLERS = ("ddpm", "ddim", "dpmpp")
QUESTION = "Why does reverse diffusion need its intermediate steps?"
CLAIM = (
    "One network call cannot replace the reverse chain: predicting x_0 from pure noise in "
    "one step gives the posterior mean, a blur far from the data (FD several times that of "
    "a 20-step chain), and sample quality grows with the number of reverse steps taken. "
    "A student distilled from the chain's intermediate steps can skip them: its one call "
    "lands far closer to the data than the one-shot prediction."
)
ONESHOT_FACTOR = 3.0  # one-shot FD at least this many times DPM-Solver++ at 20 steps
# "quality grows with the steps": the fewer-step FD at least this many times the
# more-step FD (a 10% gain, a small but visible change of a sample grid)
MORE_STEPS_FACTOR = 1.1
# the (sampler, NFE) rows the checks read; recorded as None when the plan skips one
# more steps: ancestral 10 -> 100 and DDIM 2 -> 20 (the ODE samplers level off after
# ~10 steps, so 5 -> 50 compared two points of a plateau: 4.31 against 4.15 on digits)
# 10 -> 100 ancestral steps shows the claim at a tenth of the 1000-step chain's cost (on
# Fashion-MNIST quick the 1000-step row alone took 4.9 of the study's 19 minutes); the
# 1000-step row is still drawn where the budget allows, as evidence beside the checks
CHECKED = (
    ("oneshot", 1),
    ("dpmpp", 20),
    ("ddpm", 100),
    ("ddpm", 10),
    ("ddim", 20),
    ("ddim", 2),
    ("student", 1),
)
# the one-shot FD at least this many times the consistency student's at one call: the
# student's one call is a sample, the one-shot's the posterior mean (twice: more than the
# spread of FD over noise draws, and a gap a sample grid shows at a glance)
STUDENT_FACTOR = 2.0


@dataclass(frozen=True)
class StepsSettings:
    """Training steps, samples per point and the NFE grid."""

    train_steps: int
    n_samples: int
    steps: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 1000)
    long_only_ddpm: bool = True  # all T steps only for ddpm (ddim/dpmpp saturate earlier)
    # DPM-Solver++ at 20 steps on this many noise draws x_T (seed 0 is the grid's): the
    # deterministic samplers map one x_T to nearly the same images at every step count,
    # so one draw's FD is shared by the whole ODE grid; the mean over draws is compared
    # with 1000 ancestral steps, and the spread says how finely n_samples resolve FD
    solver_draws: int = 5
    # consistency distillation of the trained model (0: none), scored at student_nfes calls
    student_steps: int = 0
    student_nfes: tuple[int, ...] = (1, 2, 4)
    student_overrides: tuple[tuple[str, Any], ...] = ()  # beyond the teacher's (genlab distill)
    overrides: tuple[tuple[str, Any], ...] = ()


# Settings by dataset, then budget; GENERIC serves any other image data. Fashion-MNIST quick (a
# report on 2 CPU cores within 45 minutes): the previous grid took 19.1 min in the whole report
# (--jobs 2): training 1500 steps at batch 64, 7.7; 200 samples at each point, 1265 network passes
# an image (1000 of them the ancestral chain: 4.9), 8.6 with scoring; chain figure, bound terms,
# figures ~1. Without the 1000-step row and with 3 solver draws instead of 5: ~13 min estimated.
# In the report of 2026-12-07 the study took 15.2 min; training now 1000 steps (-2.6 min) to
# pay for the consistency student: 300 steps at batch 64 (~3.3 min estimated from 300 steps at
# batch 128 in 386 s on one core, FD 16.5 at one call from the 600-step teacher of
# vae_vs_diffusion, against ~60 for its one-shot).
FASHION = {
    "quick": StepsSettings(
        train_steps=1000,
        n_samples=200,
        steps=(1, 2, 5, 10, 20, 100),
        solver_draws=3,
        student_steps=300,
        student_overrides=(("train.batch_size", 64),),
    ),
    "full": StepsSettings(train_steps=4000, n_samples=1000, student_steps=2000),  # to be tuned
}
SETTINGS: dict[str, dict[str, StepsSettings]] = {
    "digits": {
        # 4.4 min measured on one core: training 1000 steps 2.5, the grid 1.7 (1000 steps: 1).
        # The student: 150 steps of consistency distillation took 61 s (one thread, the
        # machine shared) for FD 10.9 at one call, 300 steps 113 s for 6.2 (one-shot 68)
        "quick": StepsSettings(train_steps=1000, n_samples=200, student_steps=200),
        "full": StepsSettings(
            train_steps=4000, n_samples=1000, long_only_ddpm=False, student_steps=1000
        ),
    },
    "fashion-mnist": FASHION,
    GENERIC: FASHION,
}


def run(
    budget: Budget,
    out: Path,
    device: str,
    data: str = DEFAULT_DATA,
    settings: StepsSettings | None = None,
) -> StudyResult:
    """Run the study on ``data`` at ``budget`` (or with explicit ``settings``) into ``out``."""
    s = settings or settings_for(SETTINGS, data, budget)
    say("reverse_steps", f"training a diffusion model on {data} ({s.train_steps} steps)")
    overrides = {"data.name": data, "train.steps": s.train_steps, **dict(s.overrides)}
    start = time.perf_counter()
    path = train_quietly("diffusion", overrides, out / "runs" / "diffusion", device)
    teacher_s = time.perf_counter() - start
    loaded = load_run(path, device=device)  # EMA weights
    model = loaded.model.eval()
    dataset = load_dataset(data)
    floor = reference_values(dataset, n=s.n_samples, metrics=["fd", "kid", "pr"], device=device)
    rows: dict[tuple[str, int], dict[str, float]] = {}
    grids: dict[tuple[str, int], torch.Tensor] = {}
    plan = [("oneshot", 1)] + [
        (name, k)
        for name in SAMPLERS
        for k in s.steps
        if k < model.schedule.T
        or (k == model.schedule.T and (name == "ddpm" or not s.long_only_ddpm))
    ]
    for name, k in plan:
        x, seconds = _draw(model, name, k, s.n_samples)
        scores = _score(x, dataset, device)
        scores["seconds_per_image"] = seconds / s.n_samples
        rows[(name, k)] = scores
        grids[(name, k)] = x[:8]
        say("reverse_steps", f"{name:8s} {k:5d} NFE: FD {scores['fd']:.2f}")
    student_s = _student(path, s, out, device, rows, grids, dataset)
    draws = _solver_draws(model, rows, s, dataset, device)
    terms = vlb_terms(model, dataset)
    chain = reverse_chain(model)
    ev = _evidence(rows, floor, draws)
    ev["student_steps"] = s.student_steps
    ev["student_train_s"] = student_s
    ev["teacher_train_s"] = teacher_s
    figures = [
        curve_figure(rows, floor, out),
        grids_figure(grids, loaded.meta, out),
        chain_figure(chain, loaded.meta, out),
        terms_figure(terms, out),
    ]
    return StudyResult(
        study="reverse_steps",
        question=QUESTION,
        claim=CLAIM,
        checks=checks(ev),
        summary=summary(ev, floor),
        evidence=ev,
        tables=[quality_table(rows, floor, dataset.name)],
        figures=figures,
        protocol=protocol(s, dataset),
    )


def checks(ev: Evidence) -> dict[str, Check]:
    """The claim's checks, FD ratios judged with the FDs' bootstrap SEs (over the
    samples). The solver's distance to 1000 ancestral steps is evidence,
    ``dpmpp_20_over_ddpm_1000``, not a check: a fast solver is not what the claim is about."""
    return {
        "oneshot_far_worse": ratio(
            ev,
            "oneshot_1_fd",
            "dpmpp_20_fd",
            ONESHOT_FACTOR,
            text=f"FD one-shot / FD DPM-Solver++ 20 steps > {ONESHOT_FACTOR:g}",
        ),
        "student_skips_steps": ratio(
            ev,
            "oneshot_1_fd",
            "student_1_fd",
            STUDENT_FACTOR,
            text=f"FD one-shot / FD consistency student at 1 call > {STUDENT_FACTOR:g}",
        ),
        "ancestral_more_steps_help": ratio(
            ev,
            "ddpm_10_fd",
            "ddpm_100_fd",
            MORE_STEPS_FACTOR,
            text=f"FD DDPM 10 steps / FD DDPM 100 steps > {MORE_STEPS_FACTOR:g}",
        ),
        "ddim_more_steps_help": ratio(
            ev,
            "ddim_2_fd",
            "ddim_20_fd",
            MORE_STEPS_FACTOR,
            text=f"FD DDIM 2 steps / FD DDIM 20 steps > {MORE_STEPS_FACTOR:g}",
        ),
    }


def protocol(s: StepsSettings, dataset: Dataset) -> dict[str, Any]:
    """How the numbers were measured; the data's facts read off ``dataset``."""
    return {
        "data": f"{describe_data(dataset)}; trained on the whole train split",
        "model": "diffusion, family defaults (U-Net, cosine schedule, v prediction), EMA",
        "train_steps": s.train_steps,
        "samples_per_point": s.n_samples,
        "solver_draws": f"DPM-Solver++ 20 steps on {s.solver_draws} noise draws x_T (seeds "
        f"0-{s.solver_draws - 1}); the grid's rows all use seed 0",
        "student": f"consistency student of the trained model: {s.student_steps} steps of "
        "genlab distill --method consistency (the teacher's network and weights to start, "
        f"{dict(s.student_overrides) or 'its batch'}), scored at {list(s.student_nfes)} calls"
        if s.student_steps
        else "none",
        "reference": f"test split ({len(dataset.test)} images); floor = {s.n_samples} train "
        "images, same metric",
        "feature_net": get_feature_net(dataset, progress=False).name,
        "seed": 0,
    }


def _student(
    teacher: Path,
    s: StepsSettings,
    out: Path,
    device: str,
    rows: dict[tuple[str, int], dict[str, float]],
    grids: dict[tuple[str, int], torch.Tensor],
    dataset: Dataset,
) -> float | None:
    """Distil a consistency student from the trained ``teacher`` run, score it at
    ``s.student_nfes`` calls into ``rows`` and ``grids``; its distillation seconds (None:
    ``s.student_steps`` is 0)."""
    if not s.student_steps:
        return None
    run, options = out / "runs" / "student", dict(s.student_overrides)
    student, seconds = distil_student(
        "reverse_steps", teacher, s.student_steps, options, run, device
    )
    for k in s.student_nfes:
        x, took = timed(
            lambda n, g, k=k: student.sample(n, generator=g, nfe=k), s.n_samples, device
        )
        rows[("student", k)] = _score(x, dataset, device) | {
            "seconds_per_image": took / s.n_samples
        }
        grids[("student", k)] = x[:8]
        say("reverse_steps", f"student  {k:5d} NFE: FD {rows[('student', k)]['fd']:.2f}")
    return seconds


def _solver_draws(
    model: Any,
    rows: dict[tuple[str, int], dict[str, float]],
    s: StepsSettings,
    data: Any,
    device: str,
) -> list[float]:
    """FD of DPM-Solver++ at 20 steps on ``s.solver_draws`` noise draws (seeds 0, 1, ...;
    seed 0 is the grid's row); empty when the grid has no such row."""
    if ("dpmpp", 20) not in rows or s.solver_draws < 2:
        return []
    fds = [rows[("dpmpp", 20)]["fd"]]
    for seed in range(1, s.solver_draws):
        x, _ = _draw(model, "dpmpp", 20, s.n_samples, seed=seed)
        fds.append(evaluate_samples(x, data, ["fd"], device=device)["fd"])
    say(
        "reverse_steps",
        "dpmpp 20 NFE on fresh noise draws: FD " + ", ".join(f"{v:.2f}" for v in fds),
    )
    return fds


def _draw(
    model: Any, sampler: str, steps: int, n: int, seed: int = 0
) -> tuple[torch.Tensor, float]:
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    with torch.inference_mode():
        model.generate(2, sampler="oneshot", generator=g)  # warm-up, not timed
        g.manual_seed(seed)
        sync(device)
        start = time.perf_counter()
        out = model.generate(n, sampler=sampler, steps=steps, generator=g)
        sync(device)
    seconds = time.perf_counter() - start
    return from_centered(out.sample, model.levels).cpu(), seconds


def _score(x: torch.Tensor, dataset: Any, device: str) -> dict[str, float]:
    return evaluate_samples(x, dataset, ["fd", "kid", "pr", "sharpness"], device=device)


def _evidence(
    rows: dict[tuple[str, int], dict[str, float]],
    floor: dict[str, float],
    draws: list[float] | None = None,
) -> Evidence:
    """The evidence; ``draws``: DPM-Solver++ 20's FD on several noise draws (the solver's
    ratio to 1000 ancestral steps uses their mean, else the grid's one draw)."""
    ev = Evidence(
        {
            "floor_fd": floor["fd"],
            "floor_kid": floor["kid"],
            "floor_precision": floor["precision"],
            "floor_recall": floor["recall"],
        }
    )
    for (name, k), r in rows.items():
        for key in ("fd", "fd_se", "kid", "precision", "recall", "sharpness", "seconds_per_image"):
            ev[f"{name}_{k}_{key}"] = r[key]
        ev[f"{name}_{k}_fd_over_floor"] = r["fd"] / floor["fd"]
    for name, k in CHECKED:  # not in the plan (a short grid, a small T): not measured
        ev.setdefault(f"{name}_{k}_fd", None)
        ev.setdefault(f"{name}_{k}_fd_se", None)
    ev["solver_draws"] = len(draws or [])
    if draws:
        ev["dpmpp_20_fd_draws_mean"] = sum(draws) / len(draws)
        ev["dpmpp_20_fd_draws_min"], ev["dpmpp_20_fd_draws_max"] = min(draws), max(draws)
        # the spread over fresh noise draws, beside the one draw's bootstrap SE: a check
        # that the bootstrap measures the sampling noise of FD at this many samples
        ev["dpmpp_20_fd_draws_sd"] = float(torch.tensor(draws).std()) if len(draws) > 1 else None
    solver = ev["dpmpp_20_fd_draws_mean"] if draws else ev["dpmpp_20_fd"]
    chain = ev.get("ddpm_1000_fd")
    ev["dpmpp_20_over_ddpm_1000"] = None if solver is None or chain is None else solver / chain
    return ev


STUDY = Study(
    "reverse_steps",
    QUESTION,
    CLAIM,
    run,
    DataNeeds(classes=2, why="FD needs a feature classifier"),
    cost=5.4,  # digits: measured in the report of 2026-12-07 18:45 (2 jobs on 2 cores)
    costs={"fashion-mnist": 14.7},  # measured in the report of 2026-12-07 18:54 (2 jobs, 2 cores)
)
