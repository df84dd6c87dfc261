"""Evaluation of frozen embeddings: linear probe, k-NN accuracy, label fractions.

Every function takes embeddings already computed by a frozen encoder (or raw
pixels flattened to (N, D) for a pixel baseline) and their labels as tensors.
The linear probe is multinomial logistic regression on features standardised
with train statistics only; its inverse L2 strength C is chosen by
cross-validation on the train embeddings, never on the test ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from genlab.data.dataset import label_subset
from genlab.metrics.distances import Distance, DistanceName
from genlab.metrics.retrieval import nearest_neighbours
from genlab.threads import limit_native_threads

__all__ = [
    "C_GRID",
    "ProbeResult",
    "knn_accuracy",
    "label_subset",
    "linear_probe",
    "majority_vote",
    "probe_correct",
]

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
_CV_FOLDS = 3  # cross-validate C only when every class has at least this many train samples
_FALLBACK_C = 1.0


@dataclass(frozen=True)
class ProbeResult:
    """Test accuracy in [0, 1] of a linear probe and the C it was fitted with.

    ``cv_accuracy`` is the mean held-out-fold train accuracy of the chosen C,
    or None when there were too few labels per class to cross-validate (C fixed).
    """

    accuracy: float
    C: float
    cv_accuracy: float | None


def linear_probe(
    train_emb: torch.Tensor,
    train_y: torch.Tensor,
    test_emb: torch.Tensor,
    test_y: torch.Tensor,
    *,
    Cs: Sequence[float] = C_GRID,
    max_iter: int = 1000,
) -> ProbeResult:
    """Accuracy of multinomial logistic regression fitted on (N, D) train embeddings.

    Features are standardised with the train mean and standard deviation. C
    (inverse L2 strength) is the one of ``Cs`` with the best mean accuracy over
    stratified 3-fold cross-validation of the train embeddings (ties go to the
    smaller C, the stronger regularisation); with fewer than 3 train samples in
    some class, C = 1. Test embeddings (M, D) are only used for the final score.
    """
    return probe_correct(train_emb, train_y, test_emb, test_y, Cs=Cs, max_iter=max_iter)[0]


def probe_correct(
    train_emb: torch.Tensor,
    train_y: torch.Tensor,
    test_emb: torch.Tensor,
    test_y: torch.Tensor,
    *,
    Cs: Sequence[float] = C_GRID,
    max_iter: int = 1000,
) -> tuple[ProbeResult, torch.Tensor]:
    """:func:`linear_probe` (the same fit), and which test items it classifies correctly:
    bool (M,), for standard errors over test items and paired differences between two
    classifiers scored on the same items."""
    limit_native_threads()  # scikit-learn's BLAS and OpenMP pools: torch's thread count
    x_train, y_train = _numpy(train_emb), train_y.cpu().numpy()
    counts = np.unique(y_train, return_counts=True)[1]
    if len(counts) < 2:
        raise ValueError("linear probe needs at least two classes among the train labels")
    C, cv_accuracy = _FALLBACK_C, None
    if counts.min() >= _CV_FOLDS:
        C, cv_accuracy = _choose_c(x_train, y_train, Cs, max_iter)
    model = _probe(C, max_iter).fit(x_train, y_train)
    correct = torch.from_numpy(model.predict(_numpy(test_emb)) == test_y.cpu().numpy())
    accuracy = float(correct.double().mean())
    return ProbeResult(accuracy=accuracy, C=C, cv_accuracy=cv_accuracy), correct


def knn_accuracy(
    train_emb: torch.Tensor,
    train_y: torch.Tensor,
    test_emb: torch.Tensor,
    test_y: torch.Tensor,
    *,
    k: int = 5,
    distance: Distance | DistanceName = "cosine",
    chunk_size: int = 1024,
) -> float:
    """Accuracy in [0, 1] of a k-nearest-neighbour majority vote over train embeddings (N, D).

    Each test embedding (M, D) takes the most frequent label among its k nearest
    train embeddings (ranked by distance, then lower train index); a tie between
    labels goes to the one of the nearest neighbour among them.
    """
    idx = nearest_neighbours(test_emb, train_emb, k, distance=distance, chunk_size=chunk_size)
    predicted = majority_vote(train_y.to(idx.device)[idx])
    return float((predicted.cpu() == test_y.cpu()).double().mean())


def majority_vote(ranked_labels: torch.Tensor) -> torch.Tensor:
    """(M,) most frequent label of each row of (M, k) labels ranked nearest first.

    A tie in counts goes to the tied label that appears earliest in the row.
    """
    m, k = ranked_labels.shape
    classes, codes = ranked_labels.unique(return_inverse=True)  # codes (M, k)
    votes = torch.zeros(m, len(classes), dtype=torch.long, device=codes.device)
    votes.scatter_add_(1, codes, torch.ones_like(codes))
    rank = torch.arange(k, device=codes.device).expand(m, k)
    first = torch.full_like(votes, k).scatter_reduce_(1, codes, rank, reduce="amin")
    # one more vote outweighs any difference of rank (< k + 1)
    return classes[(votes * (k + 1) - first).argmax(dim=1)]


def _choose_c(
    x: np.ndarray, y: np.ndarray, Cs: Sequence[float], max_iter: int
) -> tuple[float, float]:
    """(C, mean held-out accuracy) of the best of Cs by stratified k-fold CV on (x, y)."""
    folds = StratifiedKFold(n_splits=_CV_FOLDS, shuffle=True, random_state=0)
    best_c, best_acc = math.nan, -math.inf
    for C in sorted(Cs):
        acc = float(cross_val_score(_probe(C, max_iter), x, y, cv=folds).mean())
        if acc > best_acc:
            best_c, best_acc = C, acc
    return best_c, best_acc


def _probe(C: float, max_iter: int) -> Pipeline:
    """Standardisation (statistics of whatever it is fitted on) then logistic regression."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter)
    )


def _numpy(embeddings: torch.Tensor) -> np.ndarray:
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {tuple(embeddings.shape)}")
    return embeddings.detach().cpu().double().numpy()
