"""toy2d: every generator's shape, range, seeding and the unknown-name error."""

from __future__ import annotations

import pytest
import torch

from genlab.data import LoadOptions, load_dataset
from genlab.data.toy2d import GENERATORS
from genlab.errors import DataError

NAMES = ["moons", "circles", "8gaussians", "checkerboard", "pinwheel", "2spirals"]


def test_registry_lists_every_generator():
    assert sorted(GENERATORS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtype_and_range(name):
    ds = load_dataset(f"toy2d:{name}", LoadOptions(toy_samples=2000))
    assert ds.name == f"toy2d:{name}"
    assert ds.shape == (2,) and ds.levels is None and ds.num_classes is None
    assert ds.train.x.shape == (2000, 2) and ds.test.x.shape == (500, 2)
    assert ds.train.x.dtype == torch.float32 and ds.train.y is None
    assert torch.isfinite(ds.train.x).all()
    inside = (ds.train.x.abs() <= 4.5).all(1).float().mean()
    assert inside > 0.99, f"{name}: only {inside:.3f} of points inside [-4.5, 4.5]^2"
    assert ds.train.x.std(0).min() > 0.3  # not collapsed


@pytest.mark.parametrize("name", NAMES)
def test_seeded_reproducible_and_distinct(name):
    def load(seed):
        return load_dataset(f"toy2d:{name}", LoadOptions(seed=seed, toy_samples=400))

    a, b, c = load(3), load(3), load(4)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)
    assert not torch.equal(a.train.x, c.train.x)
    assert not torch.equal(a.train.x[:100], a.test.x)  # separate seed streams


def test_unknown_name_lists_valid_ones():
    with pytest.raises(DataError, match="did you mean 'moons'.*8gaussians"):
        load_dataset("toy2d:moon")
