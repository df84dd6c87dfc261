"""The embedded default dataset: scikit-learn's bundled 8x8 handwritten digits.

1797 grey images with values 0..16 (17 levels), ten classes. The split is fixed:
test = every index ``i`` with ``i % 5 == 0`` (360 images), train = the other 1437.
scikit-learn ships the file, so nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.data.dataset import DataMeta, Dataset, LoadOptions, Split

__all__ = ["load_digits"]


def load_digits(arg: str | None = None, opts: LoadOptions | None = None) -> Dataset:
    """Digits as uint8 (N, 1, 8, 8) in 0..16 with int64 labels."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    x = torch.from_numpy(np.asarray(bunch.images, dtype=np.uint8)).unsqueeze(1)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    is_test = torch.arange(len(x)) % 5 == 0
    meta = DataMeta(name="digits", shape=(1, 8, 8), levels=17, num_classes=10)
    return Dataset(meta, Split(x[~is_test], y[~is_test]), Split(x[is_test], y[is_test]))
