"""Evaluation core: bits/dim, feature-space distances, precision/recall, sharpness.

Imports no model family and nothing of ``genlab.train``: every function takes
tensors (or a model through its ``nll`` contract) and a dataset.
"""

from __future__ import annotations

from genlab.metrics.evaluate import SAMPLE_METRICS, evaluate_samples, reference_values
from genlab.metrics.features import FeatureNet, TrainRecipe, get_feature_net
from genlab.metrics.frechet import frechet_distance, kernel_inception_distance
from genlab.metrics.likelihood import (
    BitsPerDim,
    bits_per_dim,
    estimator_of,
    model_bits_per_dim,
    score_bits_per_dim,
)
from genlab.metrics.prdc import precision_recall
from genlab.metrics.sharpness import high_frequency_energy, sharpness_ratio

__all__ = [
    "SAMPLE_METRICS",
    "BitsPerDim",
    "FeatureNet",
    "TrainRecipe",
    "bits_per_dim",
    "estimator_of",
    "evaluate_samples",
    "frechet_distance",
    "get_feature_net",
    "high_frequency_energy",
    "kernel_inception_distance",
    "model_bits_per_dim",
    "precision_recall",
    "reference_values",
    "score_bits_per_dim",
    "sharpness_ratio",
]
