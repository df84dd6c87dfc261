"""The triplet family's defaults separate the digit classes they were trained on: on the
test images of classes 0-4, MAP@R clearly above raw pixels' (the contrastive study's
seen-class claim, for the defaults at the study's quick setting; the study itself checks
the row its seen-class validation selects, which need not be the defaults). And the
example config trains exactly the defaults, as its comment says.

The defaults were chosen on class-disjoint validation inside classes 0-4
(benchmarks/triplet_defaults.py); the test images here are read only to guard them."""

from __future__ import annotations

from pathlib import Path

import pytest

from genlab.data import load_dataset
from genlab.metrics.embedding import embed_all
from genlab.metrics.retrieval import average_precisions, retrieval_scores
from genlab.runs import load_run, make_config
from genlab.studies.base import train_quietly
from genlab.studies.checks import Evidence, difference
from genlab.studies.contrastive import SEEN, SEEN_GAIN, paired

CONFIG = Path(__file__).parents[2] / "configs" / "triplet-digits-seen.yaml"


def test_example_config_is_the_defaults():
    seen = {"data.name": "digits", "data.classes": SEEN}
    assert make_config("triplet", config_file=CONFIG) == make_config("triplet", overrides=seen)


@pytest.mark.slow
def test_defaults_beat_raw_pixels_on_seen_classes(tmp_path):
    overrides = {  # the contrastive study's quick setting on digits
        "data.name": "digits",
        "data.classes": SEEN,
        "train.steps": 200,
        "train.batch_size": 128,
        "train.eval_every": 50,
    }
    run = train_quietly("triplet", overrides, tmp_path / "run", "cpu")
    seen = load_dataset("digits").restrict_classes(SEEN).test
    assert seen.y is not None
    pixels = seen.x.flatten(1).double()
    assert retrieval_scores(pixels, seen.y)["map@r"] == pytest.approx(0.717, abs=0.001)
    e = embed_all(load_run(run).model, seen.x).double()
    gain, se = paired(average_precisions(e, seen.y), average_precisions(pixels, seen.y))
    ev = Evidence(gain=gain, gain_se=se)
    # +0.138 +- 0.008 measured (the study's digits quick run, defaults row)
    assert difference(ev, "gain", margin=SEEN_GAIN).status == "pass", (gain, se)
