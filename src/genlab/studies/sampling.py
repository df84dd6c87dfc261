"""What the sample-scoring studies share: timing a sampler like for like, scores with the
spectral blur measures, and the consistency student they distil from their trained
diffusion model (``genlab distill`` through :func:`genlab.studies.base.distill_quietly`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from genlab.data import Dataset
from genlab.metrics.evaluate import evaluate_samples, reference_values
from genlab.metrics.spectrum import spectral_scores
from genlab.runs import load_run
from genlab.studies.base import distill_quietly, say

__all__ = ["blur_floor", "blur_scores", "distil_student", "sync", "timed"]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    draw: Callable[[int, torch.Generator], torch.Tensor], n: int, device: str
) -> tuple[torch.Tensor, float]:
    """Samples (n, ...) on the CPU from ``draw(n, generator)`` and the seconds one call took
    (after a warm-up call on 2 images, not timed); the generator is seeded with 0."""
    dev = torch.device(device)
    g = torch.Generator(dev)
    with torch.inference_mode():
        draw(2, g.manual_seed(1))
        sync(dev)
        start = time.perf_counter()
        x = draw(n, g.manual_seed(0))
        sync(dev)
    return x.cpu(), time.perf_counter() - start


def distil_student(
    study: str, teacher: Path, steps: int, overrides: Mapping[str, Any], run: Path, device: str
) -> tuple[Any, float]:
    """A consistency student of the trained diffusion run ``teacher``: ``steps`` steps of
    ``genlab distill --method consistency`` (the teacher's network, weights and batch, then
    ``overrides``) into ``run``; (the student in eval mode on ``device``, wall seconds)."""
    say(study, f"distilling a consistency student ({steps} steps)")
    start = time.perf_counter()
    path = distill_quietly(teacher, "consistency", {"train.steps": steps, **overrides}, run, device)
    seconds = time.perf_counter() - start
    return load_run(path, device=device).model.eval(), seconds


def blur_scores(x: torch.Tensor, dataset: Dataset, device: str) -> dict[str, float]:
    """FD (with its bootstrap SE), KID, precision, recall, the Laplacian sharpness and the
    spectral blur scores (edge ratio, band powers, with SEs) of samples (N, ...)."""
    out = evaluate_samples(x, dataset, ["fd", "kid", "pr", "sharpness"], device=device)
    assert dataset.levels is not None, "the blur scores need discrete images"
    return out | spectral_scores(x.cpu(), dataset.test.x, dataset.levels)


def blur_floor(dataset: Dataset, n: int, device: str) -> dict[str, float]:
    """Every row's numbers for ``n`` real train images (the ones ``reference_values``
    draws: a permutation seeded with 0) against the test split."""
    floor = reference_values(dataset, n=n, metrics=["fd", "kid", "pr", "sharpness"], device=device)
    perm = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(0))
    real = dataset.train.x[perm[: min(n, len(dataset.train))]]
    assert dataset.levels is not None, "the blur scores need discrete images"
    return floor | spectral_scores(real, dataset.test.x, dataset.levels)
