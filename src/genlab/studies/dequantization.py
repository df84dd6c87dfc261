"""Study ``dequantization``: what does a flow's likelihood do on discrete data without
dequantization, and how much does variational dequantization gain over uniform?

The same flow (``realnvp`` by default) is trained on the study's dataset (digits by
default, 17 levels) three times, at equal steps, with ``model.dequantization`` none,
uniform and variational. A density ``p`` on ``[0, 1)^D`` gives the discrete image ``k``
the probability of its bin, ``P(k) = int p((k + u) / L) L^{-D} du``. With noise
``u ~ q(u | k)``, ``-log P(k) <= E_q[-log p((k + u) / L) + log q(u | k)] + D log L``
(Theis et al. 2016; Ho et al. 2019), and with ``K`` draws the importance-weighted form
(Burda et al. 2016) tightens it toward ``-log P(k)`` (:mod:`genlab.metrics.bin_probability`).
Without noise the model reports its density at the bin centres, ``-log p((k + 1/2) / L)
+ D log L``: not a probability, free to grow without limit on the training points.

Every model is scored at its validation-selected weights on the same test images: the
'none' model twice, by the density it reports and by its bin-integrated probability, so
the verdict needs no run long enough for its number to cross 0 bits/dim. The
bin-integrated number of a uniformly dequantized density ('none' and uniform) draws ``K``
points per image uniformly from a centred box of each bin, its side chosen on train
images: uniform draws over the whole bin miss a density peaked at the centres and put the
'none' model astronomically far off (evidence ``none_test_bound_bpd``). It is an upper
bound on ``-log P(k)`` in expectation, so a loose estimate errs towards the claim's side
in the first two checks; the variational model uses its own q. SEs are over test
images, paired where the same images are scored twice; they do not include training
noise (one seed per mode).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset, load_dataset
from genlab.data.scaling import to_index
from genlab.errors import TrainingDiverged
from genlab.family import get_family
from genlab.metrics import BitsPerDim, score_bits_per_dim
from genlab.metrics.bin_probability import BinScores, BoxDequantization, bin_scores
from genlab.pixelwise import Pixelwise, PixelwiseConfig
from genlab.runs import LoadedRun, load_run, make_config
from genlab.studies.base import Budget, Study, StudyResult, describe_data, say, train_quietly
from genlab.studies.checks import Check, Evidence, difference
from genlab.studies.curves import StepRecorder, read_curves
from genlab.studies.datasets import DEFAULT_DATA, GENERIC, DataNeeds, settings_for
from genlab.studies.dequantization_report import (
    ModeRun,
    curves_figure,
    evidence_table,
    summary,
)
from genlab.train.run_folder import RunFolder

__all__ = ["MODES", "SETTINGS", "STUDY", "DequantSettings", "ModeRun", "checks", "run"]

MODES = ("none", "uniform", "variational")
QUESTION = (
    "What does a flow's likelihood on discrete data do without dequantization, and how much "
    "does variational dequantization gain over uniform dequantization?"
)
CLAIM = (
    "Without dequantization the number a flow reports on discrete data is a density at the "
    "bin centres, not a probability: it lies far below the probability the same model gives "
    "the test images (its density integrated over each pixel's bin), and that probability "
    "is worse than a uniformly dequantized flow's. Uniform dequantization makes the number a "
    "proper bound, and variational dequantization tightens it: lower test bits/dim than "
    "uniform."
)
# bits/dim: the 'none' model's reported density must sit this far below its own
# bin-integrated bits/dim. 0.1 bits/dim is a factor 2^(0.1 D) on each image's probability
# (85 on digits' 64 pixels): no rounding of a proper number moves it that far.
GAP_MIN = 0.1
# bits/dim: the uniform model's discrete bits/dim must beat the 'none' model's by this; 0.05
# bits/dim is a factor 2^3.2 on a digits image's probability (D = 64) and 2^39 on a
# Fashion-MNIST one (D = 784): a difference in probability a reader would act on.
WORSE_MIN = 0.05
# bits/dim: a variational gain smaller than this is not worth its ~3x cost per step.
GAIN_MIN = 0.01
DRAWS = 8  # noise draws per test image for the bounds (K of the importance-weighted one)
# sides (in bins) of the centred boxes tried as importance proposals for the uniformly
# dequantized densities ('none' and uniform); 1 is the whole bin. The width is chosen per
# model on CHOOSE_IMAGES train images (never on test), by the lowest mean estimate.
WIDTHS = (1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4)
CHOOSE_IMAGES = 100


@dataclass(frozen=True)
class DequantSettings:
    """The flow and its training; ``overrides`` are extra dotted config keys.

    ``test_images``: how many test images (a fixed random subset, seed 0) every model is
    scored on (None: the whole test split); ``draws``: noise draws per image (``K``)."""

    steps: int
    preset: str = "realnvp"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    test_images: int | None = None
    draws: int = DRAWS


# Settings by dataset, then budget; GENERIC serves any other image data. Fashion-MNIST quick:
# three realnvp runs of 500 steps at batch 64 (0.26 s a step without a dequantizer, 0.90
# with the variational one, measured in the report); scoring 1,000 test images with 8
# draws, the box width chosen on 100 train images x 9 widths x 8 draws for 'none' and
# uniform: ~60,000 image-passes at 3.8 ms (8.8 with the variational dequantizer; one
# thread, untrained model at the study's sizes), ~4 min. Estimated ~12 min in the report,
# down from 18.6 measured with a 1500-step 'none' run and three full test passes a model.
FASHION = {
    "quick": DequantSettings(steps=500, test_images=1000),
    "full": DequantSettings(steps=3000, test_images=2000),  # to be tuned
}
SETTINGS: dict[str, dict[str, DequantSettings]] = {
    "digits": {
        "quick": DequantSettings(steps=800),  # ~2.2 min measured on one core
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
    images = _images(dataset, s.test_images)
    results = {mode: _train_mode(mode, s, data, out / "runs", device, images) for mode in MODES}
    pixelwise = _pixelwise(dataset, images.test)
    ev = _evidence(results, pixelwise)
    found = checks(ev)
    return StudyResult(
        study="dequantization",
        question=QUESTION,
        claim=CLAIM,
        summary=summary(ev, results, found),
        evidence=ev,
        checks=found,
        tables=[evidence_table(ev, results, dataset.name)],
        figures=[curves_figure(results, ev["pixelwise_test_bpd"], out, dataset.name)],
        protocol=protocol(s, dataset, len(images.test)),
    )


def checks(ev: Evidence) -> dict[str, Check]:
    """The claim's checks, each a paired difference over the same test images (bits/dim)."""
    return {
        "none_density_not_a_probability": difference(
            ev,
            "none_discrete_minus_density_bpd",
            margin=GAP_MIN,
            text="'none' model: bin-integrated bits/dim minus the density bits/dim it reports "
            f"> {GAP_MIN} (the reported number is not its probability of the test images)",
        ),
        "uniform_beats_none": difference(
            ev,
            "none_minus_uniform_discrete_bpd",
            margin=WORSE_MIN,
            text="discrete (bin-integrated) bits/dim: 'none' model minus uniform model "
            f"> {WORSE_MIN}",
        ),
        "variational_gains": difference(
            ev,
            "variational_gain_over_uniform_bpd",
            margin=GAIN_MIN,
            text=f"dequantization bound bits/dim: uniform minus variational > {GAIN_MIN}",
        ),
    }


def protocol(s: DequantSettings, dataset: Dataset, images: int | None = None) -> dict[str, Any]:
    """How the numbers were measured; the data's facts read off ``dataset``; ``images``:
    how many test images were scored (default the whole test split)."""
    images = len(dataset.test) if images is None else images
    train = make_config("flow", overrides=_overrides("uniform", s, dataset.name)).train
    every = "the whole test split" if images == len(dataset.test) else "a random subset, seed 0"
    return {
        "data": f"{describe_data(dataset)}; train minus a {train.val_fraction:.0%} "
        f"validation part (seed {train.seed}); test = {images} images ({every})",
        "model": f"flow, model.preset={s.preset}, family defaults otherwise",
        "steps": s.steps,
        "overrides": dict(s.overrides),
        "test_weights": "validation-selected (best validation bpd); 'end' = EMA weights at the "
        "last step, one draw",
        "dequantization_draws": f"{s.draws} draws of u per test image (seed 0, the same u for "
        "every uniformly dequantized model); bound = their mean -log w, discrete = "
        "-log mean w (importance-weighted); 'none' and uniform: u uniform on a centred box "
        f"of each bin, its side chosen among {list(WIDTHS)} bins on {CHOOSE_IMAGES} train "
        "images; variational: its own q",
        "standard_errors": "over test images (paired where the same images are scored twice); "
        "training noise (one seed per mode) not included",
        "seed": 0,
    }


def _overrides(mode: str, s: DequantSettings, data: str) -> dict[str, Any]:
    return {
        "data.name": data,
        "model.preset": s.preset,
        "model.dequantization": mode,
        "train.steps": s.steps,
        **s.overrides,
    }


@dataclass(frozen=True)
class Images:
    """The images every model is scored on: ``test`` (N, *shape), all of the test split or
    a fixed random subset, and ``choose``, :data:`CHOOSE_IMAGES` train images on which the
    importance proposal's width is chosen."""

    test: torch.Tensor
    choose: torch.Tensor


def _images(ds: Dataset, n: int | None) -> Images:
    """Test images: all, or ``n`` drawn without replacement (seed 0) in test-split order;
    and the train images that choose the proposal (seed 0)."""
    choose = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(0))
    choose = ds.train.x[choose[:CHOOSE_IMAGES]]
    if n is None or n >= len(ds.test):
        return Images(ds.test.x, choose)
    keep = torch.randperm(len(ds.test), generator=torch.Generator().manual_seed(0))[:n]
    return Images(ds.test.x[keep.sort().values], choose)


def _train_mode(
    mode: str, s: DequantSettings, data: str, runs: Path, device: str, images: Images
) -> ModeRun:
    """Train one mode and score it on ``images``. A run stopped by a non-finite loss is
    scored at the best weights of its last checkpoint, when it wrote one."""
    say("dequantization", f"training {s.preset} on {data}, dequantization={mode} ({s.steps} steps)")
    recorder = StepRecorder()
    try:
        path = train_quietly(
            "flow", _overrides(mode, s, data), runs / mode, device, callbacks=[recorder]
        )
        result = ModeRun(mode, read_curves(path), run=path)
    except TrainingDiverged as err:
        say("dequantization", f"dequantization={mode} diverged: {err}")
        result, path = ModeRun(mode, recorder.curves(), diverged=str(err)), runs / mode
        if not RunFolder(path).has_weights("best"):
            return result
    folder = RunFolder(path)
    end = "ema" if folder.has_weights("ema") else "model"
    selected = "best" if folder.has_weights("best") else end
    say("dequantization", f"scoring {mode} on {len(images.test)} test images x {s.draws} draws")
    ended = load_run(path, weights=end, device=device)
    if mode == "none":  # the number it reports: its density (nll() is a uniform bound)
        density = _per_image_bpd(ended, images.test)
        result.test_end = float(density.mean())
        result.test_end_se = float(density.std() / math.sqrt(len(density)))
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            scored = score_bits_per_dim(ended.model, images.test, ended.meta)
        result.test_end, result.test_end_se = scored.bpd, scored.se
    best = load_run(path, weights=selected, device=device)
    if mode == "variational":
        scores = bin_scores(best.model, images.test, best.meta, draws=s.draws, seed=0)
        result.bound, result.discrete = scores.bound, scores.discrete
        return result
    if mode == "none":
        result.density = _per_image_bpd(best, images.test)
    result.bound, result.discrete, result.box_width = _box_scores(best, images, s.draws)
    return result


def _box_scores(
    loaded: LoadedRun, images: Images, draws: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """A uniformly dequantized density's (N,) test bits/dim: the uniform bound, and the
    importance-weighted bin-integrated estimate with the box proposal whose width
    (:data:`WIDTHS`) gives the lowest mean on the ``images.choose`` train images."""
    model, levels = _as_uniform(loaded), int(loaded.meta.levels or 0)

    def scored(width: float, x: torch.Tensor) -> BinScores:
        model.dequantizer = BoxDequantization(levels, width)
        return bin_scores(model, x, loaded.meta, draws=draws, seed=0)

    width = min(WIDTHS, key=lambda w: float(scored(w, images.choose).discrete.mean()))
    uniform = scored(1.0, images.test)
    return uniform.bound, (uniform if width == 1.0 else scored(width, images.test)).discrete, width


def _per_image_bpd(loaded: LoadedRun, x: torch.Tensor) -> torch.Tensor:
    """(N,) bits/dim (float64) of each image by the density the 'none' model reports and
    trains on (``FlowModel.density_nll``: at the bin centres; its ``nll`` is a bound with
    uniform noise instead, as for every flow)."""
    model = loaded.model
    device = next(model.parameters()).device
    with torch.inference_mode():
        nats = torch.cat([model.density_nll(b.to(device)).double().cpu() for b in x.split(500)])
    return nats / (loaded.meta.dims * math.log(2.0))


def _as_uniform(loaded: LoadedRun) -> torch.nn.Module:
    """A 'none' model's density in a flow with ``dequantization=uniform``: the same
    weights (the uniform dequantizer has no parameters), so its ``nll`` is one draw of
    ``-log p((k + u) / L) + D log L``, u ~ U[0, 1)^D."""
    cfg = dataclasses.replace(loaded.config.model, dequantization="uniform")
    model = get_family("flow").build(cfg, loaded.meta)
    model.load_state_dict(loaded.model.state_dict())
    device = next(loaded.model.parameters()).device
    return model.to(device).eval()


def _pixelwise(ds: Dataset, x: torch.Tensor | None = None) -> BitsPerDim:
    """Test bits/dim (of ``x``; default the whole test split), with its SE over images, of
    the add-one per-pixel histogram of the train split (the pixelwise family's closed-form
    optimum): the baseline to beat."""
    levels, dims = int(ds.meta.levels or 0), ds.meta.dims
    k = to_index(ds.train.x, levels).reshape(len(ds.train.x), -1)  # (N, D)
    flat = (torch.arange(dims) * levels + k).flatten()  # (N * D,) index of (pixel, level)
    counts = torch.bincount(flat, minlength=dims * levels).reshape(dims, levels).float()
    model = Pixelwise(PixelwiseConfig(prior=1.0), ds.meta)
    with torch.no_grad():
        model.logits.copy_(torch.log(counts + 1.0))
    return score_bits_per_dim(model, ds.test.x if x is None else x, ds.meta)


def _mean_se(per_image: torch.Tensor | None) -> tuple[float | None, float | None]:
    """Mean and its standard error (std / sqrt(N)) of per-image numbers."""
    if per_image is None or len(per_image) < 2:
        return None, None
    return float(per_image.mean()), float(per_image.std() / math.sqrt(len(per_image)))


def _record(ev: Evidence, name: str, per_image: torch.Tensor | None) -> None:
    ev[name], ev[name + "_se"] = _mean_se(per_image)


def _minus(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return None if a is None or b is None else a - b


def _evidence(results: dict[str, ModeRun], pixelwise: BitsPerDim) -> Evidence:
    ev = Evidence({"pixelwise_test_bpd": pixelwise.bpd, "pixelwise_test_bpd_se": pixelwise.se})
    for mode, r in results.items():
        best = r.curves.best_val()
        ev[f"{mode}_train_bpd_final"] = r.curves.last_train()
        ev[f"{mode}_train_bpd_min"] = r.curves.min_train()
        ev[f"{mode}_val_bpd_best"] = best[1] if best else None
        ev[f"{mode}_best_step"] = best[0] if best else None
        ev[f"{mode}_test_bpd_end"], ev[f"{mode}_test_bpd_end_se"] = r.test_end, r.test_end_se
        _record(ev, f"{mode}_test_bound_bpd", r.bound)
        _record(ev, f"{mode}_test_discrete_bpd", r.discrete)
        ev[f"{mode}_diverged"] = 1.0 if r.diverged else 0.0
    none, uni, var = (results[m] for m in MODES)
    _record(ev, "none_test_density_bpd", none.density)
    _record(ev, "none_discrete_minus_density_bpd", _minus(none.discrete, none.density))
    for mode in ("none", "uniform"):
        ev[f"{mode}_box_width"] = results[mode].box_width
    _record(ev, "none_minus_uniform_discrete_bpd", _minus(none.discrete, uni.discrete))
    _record(ev, "variational_gain_over_uniform_bpd", _minus(uni.bound, var.bound))
    _record(ev, "variational_gain_over_uniform_discrete_bpd", _minus(uni.discrete, var.discrete))
    return ev


STUDY = Study(
    name="dequantization",
    question=QUESTION,
    claim=CLAIM,
    run=run,
    needs=DataNeeds(why="a flow's bits/dim on discrete data"),
    cost=2.1,
    costs={"fashion-mnist": 14.8},  # measured in the report of 2026-12-07 18:54 (2 jobs, 2 cores)
)
