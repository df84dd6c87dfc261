"""Evaluating representation runs from the CLI: retrieval on held-out classes, probes,
a classifier's accuracy, and the one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.data import load_dataset
from genlab.metrics.retrieval import retrieval_scores
from genlab.runs import load_run

SMALL = ["model.channels=4", "model.embed_dim=8", "train.progress=false"]


@pytest.fixture(scope="module")
def triplet_run(tmp_path_factory, device):
    from genlab.cli import main

    run = tmp_path_factory.mktemp("rep") / "triplet"
    args = ["train", "triplet", "--data", "digits", "--steps", "3", "--out", run]
    assert (
        main([str(a) for a in [*args, *SMALL, "data.classes=0,1,2,3,4", "--device", device.type]])
        == 0
    )
    return run


def test_retrieval_on_unseen_classes_equals_the_metric_on_their_test_images(cli, triplet_run):
    res = cli(
        "eval",
        triplet_run,
        "--metrics",
        "recall@1,recall@5,map@r",
        "data.classes=5,6,7,8,9",
        "--json",
    )
    assert res.code == 0, res.err
    got = json.loads(res.out)
    test = load_dataset("digits").restrict_classes((5, 6, 7, 8, 9)).test
    model = load_run(triplet_run).model.eval()
    with torch.no_grad():
        ref = retrieval_scores(model.embed(test.x), test.y, ks=(1, 5))
    assert got == pytest.approx({k: ref[k] for k in ("recall@1", "recall@5", "map@r")})


def test_probes_and_default_metrics(cli, triplet_run):
    res = cli("eval", triplet_run, "--json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert set(got) == {"recall@1", "map@r", "knn", "probe"}
    assert all(0 <= v <= 1 for v in got.values())


def test_classifier_accuracy(cli, tmp_path, device):
    run = tmp_path / "clf"
    args = ["train", "classifier", "--steps", "3", "--out", run, *SMALL, "data.label_fraction=0.1"]
    assert cli(*args, "--device", device.type).code == 0
    res = cli("eval", run, "--metrics", "accuracy", "--json")
    assert res.code == 0, res.err
    acc = json.loads(res.out)["accuracy"]
    test = load_dataset("digits").test
    pred = load_run(run).model.predict(test.x)
    assert acc == pytest.approx(float((pred == test.y).float().mean()))


def test_accuracy_of_a_model_that_does_not_classify(cli, triplet_run):
    res = cli("eval", triplet_run, "--metrics", "accuracy")
    res.error_line("accuracy", "does not classify")
