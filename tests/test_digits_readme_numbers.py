"""The digits numbers the README quotes still hold with the defaults (digits presets
included), so tuning defaults for 28x28 data never makes them worse unnoticed.

Slow (a few minutes of one thread): ``make test-slow``. Each run is the README's
command, ``genlab train FAMILY --data digits --steps S``, scored on the whole test split.
"""

from __future__ import annotations

import pytest
import torch

from genlab.inference import evaluate_run
from genlab.runs import load_run, make_config, train_run

pytestmark = pytest.mark.slow

# (family, overrides, README test bits/dim, tolerance: the spread between seeds/machines)
README_BPD = [
    ("flow", {"train.steps": 3000}, 2.003, 0.03),  # Normalizing flows: realnvp, uniform
    ("vae", {"train.steps": 5000}, 1.900, 0.03),  # Variational autoencoders
]


@pytest.mark.parametrize(("family", "overrides", "quoted", "tol"), README_BPD)
def test_digits_bits_per_dim_is_no_worse_than_the_readme(tmp_path, family, overrides, quoted, tol):
    torch.set_num_threads(1)
    over = {"data.name": "digits", "train.progress": False, **overrides}
    cfg = make_config(family, overrides=over)
    train_run(cfg, tmp_path / family)
    bpd = evaluate_run(load_run(tmp_path / family), ["bpd"])["bpd"]
    assert bpd <= quoted + tol, f"{family}: {bpd:.3f} bits/dim against {quoted} in the README"


def test_pixelwise_matches_the_readme_exactly(tmp_path):
    cfg = make_config("pixelwise", overrides={"data.name": "digits", "train.progress": False})
    train_run(cfg, tmp_path / "pixelwise")
    bpd = evaluate_run(load_run(tmp_path / "pixelwise"), ["bpd"])["bpd"]
    assert bpd == pytest.approx(2.4376, abs=1e-4)
