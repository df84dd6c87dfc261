"""Evidence of the ``self_supervised`` study (see self_supervised.py): accuracies, paired
gains and their standard errors, from which test images each row classifies correctly.

``correct`` maps a row (``pixels``, ``untrained``, a method, ``best_probe``,
``finetune_*``, ``scratch``) to label fractions to one bool (N,) vector per label subset
scored (subset 0 first), over the N test images.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from genlab.studies.checks import Evidence
from genlab.studies.self_supervised_cv import CrossValidated
from genlab.studies.self_supervised_report import pct
from genlab.studies.self_supervised_stopping import Stopped

__all__ = ["Correct", "Stop", "Stops", "evidence", "subset_mean_se"]

Correct = dict[str, dict[float, list[torch.Tensor]]]  # row -> fraction -> per subset (N,) bool
Stop = Stopped | CrossValidated | None  # how a classifier's steps were chosen (None: fixed)
Stops = dict[str, Stop]  # "{row}_{share}[_seed{k}]" -> how its steps were chosen


def subset_mean_se(values: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error) of per-image values (K, N): K label subsets, N test images.

    ``values`` is a correctness (0/1) or a paired difference of two correctness vectors
    (-1/0/1) on the same test images. The mean is over subsets and images. Its SE puts in
    quadrature (a) the test images' noise, ``std_i(m_i) / sqrt(N)`` with ``m_i`` image i's
    mean over subsets (the test split is shared by the subsets, so this noise does not
    average out over them), and (b) the label subsets' noise, ``std_k(M_k) / sqrt(K)`` with
    ``M_k`` subset k's mean over images (0 for one subset). Whichever dominates sets the
    SE; the sum is a little conservative, as (b) also holds some of (a).
    """
    assert values.dim() == 2 and values.shape[1] > 1, tuple(values.shape)
    v = values.double()
    images = float(v.mean(0).std() / v.shape[1] ** 0.5)
    subsets = float(v.mean(1).std() / v.shape[0] ** 0.5) if v.shape[0] > 1 else 0.0
    return float(v.mean()), (images**2 + subsets**2) ** 0.5


def evidence(
    counts: Mapping[float, int],
    correct: Correct,
    cv: Mapping[str, Mapping[float, float | None]],
    stops: Stops,
    controls: tuple[str, ...],
) -> Evidence:
    """Accuracies (``{row}_accuracy_{share}``, subset 0; ``_seed{k}``: subset k) with SEs
    over test images; at the claim's share the means over subsets (``{row}_mean_{share}``)
    and, at every share, the paired gains ``probe_minus_{row}_{share}`` (over the subsets
    scored there) for each row of ``controls``, each with ``_se`` (:func:`subset_mean_se`);
    how each classifier run's steps were chosen (``{run}_best_step``: the steps kept,
    ``_stop_step``: where the search stopped, ``_capped``: 1 if its cap ended it,
    ``_cv_folds``: the folds cross-validated, 0 for early stopping on one held-out part,
    ``_val_accuracy``: the held-out accuracy at the kept step, ``_cv_reused``: 1 if the
    steps were cross-validated on label subset 0 and reused; None for fixed steps)."""
    ev = Evidence()
    for f, count in counts.items():
        ev[f"labels_{pct(f)}"] = float(count)
    for name, by_fraction in correct.items():
        for f, hits in by_fraction.items():
            k = pct(f)
            ev[f"{name}_accuracy_{k}"], ev[f"{name}_accuracy_{k}_se"] = subset_mean_se(
                hits[0][None]
            )
            for seed, more in enumerate(hits[1:], start=1):
                ev[f"{name}_accuracy_{k}_seed{seed}"] = float(more.double().mean())
            if len(hits) > 1:
                ev[f"{name}_mean_{k}"], ev[f"{name}_mean_{k}_se"] = subset_mean_se(
                    torch.stack(hits)
                )
    for f in counts:
        probe = torch.stack(correct["best_probe"][f]).double()
        for row in controls:
            if f not in correct[row]:  # a classifier row not trained at this share
                continue
            other = torch.stack(correct[row][f]).double()
            ev[f"probe_minus_{row}_{pct(f)}"], ev[f"probe_minus_{row}_{pct(f)}_se"] = (
                subset_mean_se(probe - other)
            )
    for name, by_fraction in cv.items():
        for f, value in by_fraction.items():
            ev[f"{name}_cv_accuracy_{pct(f)}"] = value
    for name, stop in stops.items():
        ev[f"{name}_best_step"] = None if stop is None else float(stop.best_step)
        ev[f"{name}_stop_step"] = None if stop is None else float(stop.stop_step)
        ev[f"{name}_capped"] = None if stop is None else float(stop.capped)
        folds = getattr(stop, "folds", 0)
        ev[f"{name}_cv_folds"] = None if stop is None else float(folds)
        ev[f"{name}_val_accuracy"] = None if stop is None else stop.val_accuracy
        ev[f"{name}_cv_reused"] = None if stop is None else float(getattr(stop, "reused", False))
    return ev
