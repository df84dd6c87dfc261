"""Shared metric fixtures: the digits dataset and its feature net, trained once per session."""

from __future__ import annotations

import pytest
import torch

from genlab.data import Dataset, load_dataset
from genlab.metrics import FeatureNet, get_feature_net


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_feature_net(
    digits: Dataset, device: torch.device, tmp_path_factory: pytest.TempPathFactory
) -> FeatureNet:
    # the same folder the autouse fixture of tests/conftest.py puts in GENLAB_CACHE,
    # so evaluate_samples later loads these weights instead of training again
    cache = tmp_path_factory.getbasetemp() / "genlab-cache"
    return get_feature_net(digits, device=device, cache_dir=cache)
