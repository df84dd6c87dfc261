"""The triplet family's defaults rank digit classes they never saw better than raw pixels
(the contrastive study's quick setting; benchmarks/contrastive_digits.py at 2000 steps
reaches Recall@1 0.989, MAP@R 0.630)."""

from __future__ import annotations

import pytest

from genlab.data import load_dataset
from genlab.metrics.embedding import embed_all
from genlab.metrics.retrieval import retrieval_scores
from genlab.runs import load_run
from genlab.studies.base import train_quietly


@pytest.mark.slow
def test_defaults_beat_raw_pixels_on_unseen_classes(tmp_path):
    overrides = {
        "data.name": "digits",
        "data.classes": (0, 1, 2, 3, 4),
        "train.steps": 200,
        "train.batch_size": 128,
        "train.eval_every": 50,
    }
    run = train_quietly("triplet", overrides, tmp_path / "run", "cpu")
    unseen = load_dataset("digits").restrict_classes((5, 6, 7, 8, 9)).test
    assert unseen.y is not None
    pixels = retrieval_scores(unseen.x.flatten(1).double(), unseen.y)
    e = embed_all(load_run(run).model, unseen.x).double()
    learnt = retrieval_scores(e, unseen.y)
    assert pixels["map@r"] == pytest.approx(0.575, abs=0.001)
    assert learnt["map@r"] > pixels["map@r"]  # 0.589 measured
    assert learnt["recall@1"] >= pixels["recall@1"] - 0.01  # 0.972 against 0.966
