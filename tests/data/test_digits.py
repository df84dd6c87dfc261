"""digits: the fixed 1437/360 split against scikit-learn's own copy."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from genlab.data import load_dataset


def test_split_matches_sklearn():
    ds = load_dataset("digits")
    bunch = load_digits()
    test = np.arange(len(bunch.images)) % 5 == 0
    assert (len(ds.train), len(ds.test)) == (1437, 360)
    assert ds.shape == (1, 8, 8) and ds.levels == 17 and ds.num_classes == 10
    assert ds.train.x.dtype == torch.uint8 and ds.train.y.dtype == torch.int64
    np.testing.assert_array_equal(ds.test.x[:, 0].numpy(), bunch.images[test])
    np.testing.assert_array_equal(ds.train.x[:, 0].numpy(), bunch.images[~test])
    np.testing.assert_array_equal(ds.test.y.numpy(), bunch.target[test])
    np.testing.assert_array_equal(ds.train.y.numpy(), bunch.target[~test])
    assert int(ds.train.x.min()) == 0 and int(ds.train.x.max()) == 16
