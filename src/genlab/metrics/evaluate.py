"""Sample-quality evaluation: FD, KID, precision/recall and sharpness in one call.

Samples (in data space, as a model's ``sample`` returns them) are compared with a
reference split, the TEST split by default, in the feature space of the dataset's
own classifier (:mod:`genlab.metrics.features`). Every result carries its
protocol numbers: the feature network's test accuracy and both set sizes.
:func:`reference_values` gives the floor: real train images scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from genlab.data.dataset import Dataset, Split
from genlab.errors import GenlabError
from genlab.metrics.features import get_feature_net
from genlab.metrics.frechet import (
    frechet_bootstrap_se,
    frechet_distance,
    kernel_inception_distance,
)
from genlab.metrics.prdc import precision_recall
from genlab.metrics.sharpness import sharpness_ratio

__all__ = ["SAMPLE_METRICS", "evaluate_samples", "reference_values"]

SAMPLE_METRICS = ("fd", "kid", "pr", "sharpness")
_FEATURE_METRICS = ("fd", "kid", "pr")


def evaluate_samples(
    samples: torch.Tensor,
    dataset: Dataset,
    metrics: Sequence[str],
    *,
    reference: str = "test",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Score ``samples`` (N, *dataset.shape) against the ``reference`` split.

    Returns the requested numbers among ``fd`` and ``fd_se`` (bootstrap over the
    samples, :func:`~genlab.metrics.frechet.frechet_bootstrap_se`), ``kid`` and ``kid_std``,
    ``precision`` and ``recall`` (k=3), ``sharpness`` (HF energy ratio), plus
    ``n_samples``, ``n_reference`` and ``feature_net_test_accuracy`` (NaN for
    vector data, whose features are the raw coordinates). ``generator`` draws
    the KID subsets (seeded with 0 when None). ``device`` runs the feature net.
    """
    wanted = _check_metrics(metrics)
    _check_samples(samples, dataset)
    ref = _reference_split(dataset, reference)
    out: dict[str, float] = {"n_samples": float(len(samples)), "n_reference": float(len(ref))}
    if any(m in wanted for m in _FEATURE_METRICS):
        net = get_feature_net(dataset, device=device)
        out["feature_net_test_accuracy"] = net.test_accuracy
        out.update(_feature_metrics(net.features(samples), net.features(ref.x), wanted, generator))
    if "sharpness" in wanted:
        if not dataset.meta.is_image or dataset.levels is None:
            raise GenlabError(f"sharpness needs discrete images; {dataset.name!r} is vector data")
        out["sharpness"] = sharpness_ratio(samples.cpu(), ref.x.cpu(), dataset.levels)
    return out


def reference_values(
    dataset: Dataset,
    n: int = 1000,
    seed: int = 0,
    *,
    metrics: Sequence[str] | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """The floor of every metric: ``n`` random train images (seeded) against the test split.

    A model cannot be expected to beat real held-out data; report its numbers
    next to these. ``metrics`` defaults to all that apply (no sharpness for
    vector data).
    """
    if metrics is None:
        metrics = SAMPLE_METRICS if dataset.meta.is_image else _FEATURE_METRICS
    perm = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))
    real = dataset.train.x[perm[: min(n, len(dataset.train))]]
    gen = torch.Generator().manual_seed(seed)
    return evaluate_samples(real, dataset, metrics, device=device, generator=gen)


def _feature_metrics(
    fake: torch.Tensor, real: torch.Tensor, wanted: set[str], generator: torch.Generator | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    if "fd" in wanted:
        out["fd"] = frechet_distance(fake, real)
        out["fd_se"] = frechet_bootstrap_se(fake, real)
    if "kid" in wanted:
        out["kid"], out["kid_std"] = kernel_inception_distance(fake, real, generator=generator)
    if "pr" in wanted:
        out["precision"], out["recall"] = precision_recall(real, fake, k=3)
    return out


def _check_metrics(metrics: Sequence[str]) -> set[str]:
    unknown = [m for m in metrics if m not in SAMPLE_METRICS]
    if unknown:
        raise GenlabError(
            f"unknown sample metric(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(SAMPLE_METRICS)}"
        )
    return set(metrics)


def _check_samples(samples: torch.Tensor, dataset: Dataset) -> None:
    if tuple(samples.shape[1:]) != tuple(dataset.shape) or len(samples) < 4:
        raise GenlabError(
            f"samples have shape {tuple(samples.shape)}, expected (N >= 4, "
            f"{', '.join(map(str, dataset.shape))}) for dataset {dataset.name!r}"
        )
    if samples.is_floating_point() and not bool(torch.isfinite(samples).all()):
        raise GenlabError("samples contain NaN or infinite values; the model diverged")


def _reference_split(dataset: Dataset, reference: str) -> Split:
    if reference not in ("test", "train"):
        raise GenlabError(f"reference split must be 'test' or 'train', got {reference!r}")
    return dataset.test if reference == "test" else dataset.train
