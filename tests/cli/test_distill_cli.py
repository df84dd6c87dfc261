"""``genlab distill`` through the command line: a tiny flowmatch teacher on digits, each
method's student trained from it, sampled in one and a few passes and scored by eval;
the student keeps its teacher's network and starts from its weights; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from genlab.cli import main

TINY = [
    "model.channels=8",
    "model.multipliers=1,2",
    "model.attention=1",
    "train.batch_size=32",
    "train.sample_every=0",
]


KEY = {"reflow": "model.teacher_nfe=2", "consistency": "model.intervals=4"}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    run = tmp_path_factory.mktemp("distill") / "teacher"
    args = ["train", "flowmatch", "--data", "digits", "--steps", "6", "--out", str(run)]
    assert main([*args, "--device", device.type, "--quiet", *TINY]) == 0
    return run


@pytest.mark.parametrize(
    ("method", "family", "options"),
    [
        ("reflow", "flowmatch", [["solver=euler", "nfe=1"], ["solver=euler", "nfe=2"]]),
        ("consistency", "consistency", [["nfe=1"], ["nfe=4"]]),
    ],
)
def test_distill_sample_and_eval(cli, teacher, tmp_path, device, method, family, options):
    out = tmp_path / method
    res = cli(
        "distill", teacher, "--method", method, "--out", out, "--steps", 3, "--quiet",
        "--device", device.type, KEY[method],
    )  # fmt: skip
    assert res.code == 0, res.err
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["family"] == family
    assert cfg["model"]["teacher"] == str(teacher.resolve())
    assert cfg["model"]["channels"] == 8 and cfg["train"]["batch_size"] == 32
    for opts in options:
        res = cli("sample", out, "-n", 4, *opts, "--out", tmp_path / "s.npz")
        assert res.code == 0, res.err
        with np.load(tmp_path / "s.npz") as f:
            x = f["samples"]
        assert x.shape == (4, 1, 8, 8) and x.min() >= 0 and x.max() <= 16
    res = cli("eval", out, "--metrics", "fd", "--n-samples", 50, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["fd"] > 0


def test_a_student_starts_from_its_teacher_weights(cli, teacher, tmp_path, device):
    """After one step at a negligible learning rate the student's network is its teacher's
    EMA weights (what it started from), and its target network exactly so (the target
    moves toward the student before the step, and both began at the teacher)."""
    out = tmp_path / "c"
    res = cli(
        "distill", teacher, "--method", "consistency", "--out", out, "--steps", 1, "--quiet",
        "--device", device.type, "train.lr=1e-12", "train.ema=0",
    )  # fmt: skip
    assert res.code == 0, res.err
    want = load_file(teacher / "ema.safetensors")
    got = load_file(out / "model.safetensors")
    for key, value in want.items():
        assert torch.allclose(got[key], value, atol=1e-6), key
        assert torch.equal(got[key.replace("network.", "target.", 1)], value), key


def test_default_eval_of_a_consistency_student_leaves_out_bits_per_dim(cli, teacher, tmp_path):
    out = tmp_path / "c"
    assert cli("distill", teacher, "--method", "consistency", "--out", out, "--steps", 1,
               "--quiet").code == 0  # fmt: skip
    res = cli("eval", out, "--json", "--metrics", "bpd")
    assert res.code != 0 and "no likelihood" in res.err and res.err.count("\n") <= 1, res.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "progressive"], "unknown distillation method"),
        (
            ["--method", "reflow", "model.teacher_solver=rk4", "model.teacher_nfe=6"],
            "multiple of 4",
        ),
        (["--method", "consistency", "model.channels=4"], "differs from the teacher's"),
    ],
)
def test_bad_distillations_are_one_line(cli, teacher, tmp_path, args, message):
    res = cli("distill", teacher, "--out", tmp_path / "s", "--steps", 1, "--quiet", *args)
    assert res.code != 0 and message in res.err and res.err.count("\n") <= 1, res.err
    assert not (tmp_path / "s" / "config.yaml").exists()


def test_only_a_flowmatch_run_teaches(cli, tmp_path):
    run = tmp_path / "vae"
    assert (
        main(["train", "vae", "--data", "digits", "--steps", "1", "--out", str(run), "--quiet"])
        == 0
    )
    res = cli("distill", run, "--method", "reflow", "--out", tmp_path / "s", "--steps", 1)
    assert res.code != 0 and "flowmatch teacher" in res.err, res.err
    res = cli("distill", run, "--method", "consistency", "--out", tmp_path / "s", "--steps", 1)
    assert res.code != 0 and "flowmatch or diffusion teacher" in res.err, res.err


def test_a_diffusion_run_teaches_a_consistency_student(cli, tmp_path, device):
    """An unconditional diffusion run, seen on the linear path, teaches consistency (the
    student takes its U-Net and weights); reflow refuses it in one line."""
    run = tmp_path / "diffusion"
    args = ["train", "diffusion", "--data", "digits", "--steps", "3", "--out", str(run)]
    assert main([*args, "--quiet", *TINY, "model.timesteps=20"]) == 0
    out = tmp_path / "student"
    res = cli(
        "distill", run, "--method", "consistency", "--out", out, "--steps", 2, "--quiet",
        "--device", device.type, "model.intervals=4",
    )  # fmt: skip
    assert res.code == 0, res.err
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["family"] == "consistency" and cfg["model"]["path"] == "linear"
    assert cfg["model"]["channels"] == 8 and cfg["model"]["multipliers"] == [1, 2]
    assert cli("sample", out, "-n", 4, "nfe=2", "--out", tmp_path / "s.npz").code == 0
    res = cli("distill", run, "--method", "reflow", "--out", tmp_path / "r", "--steps", 1)
    assert res.code != 0 and "is a diffusion run" in res.err and res.err.count("\n") <= 1
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_a_resumed_student_matches_one_never_stopped(cli, teacher, tmp_path):
    """Stopped at step 2 and resumed to 4, a consistency student (its target network in
    the checkpoint, its teacher attached again) ends bit for bit where one trained 4
    steps straight does; resuming with another teacher is one clear error."""
    common = ["--method", "consistency", "--quiet", "--device", "cpu", "model.intervals=4"]
    common += ["train.min_lr_ratio=1"]  # a constant rate: the schedule ignores train.steps
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    assert cli("distill", teacher, "--out", straight, "--steps", 4, *common).code == 0
    assert cli("distill", teacher, "--out", cut, "--steps", 2, *common).code == 0
    res = cli("distill", teacher, "--out", cut, "--steps", 4, "--resume", *common)
    assert res.code == 0, res.err
    a, b = load_file(straight / "model.safetensors"), load_file(cut / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = tmp_path / "other"
    assert main(["train", "flowmatch", "--data", "digits", "--steps", "1", "--out", str(other),
                 "--quiet", *TINY]) == 0  # fmt: skip
    res = cli("distill", other, "--out", cut, "--steps", 6, "--resume", *common)
    assert res.code != 0 and "resume it with its own teacher" in res.err, res.err
