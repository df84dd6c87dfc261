"""The flowmatch family through the command line: a tiny class-conditional run sampled
with each kind of solver and with guidance, scored through the ODE with its estimator
stated, the diffusion model scored through its ODE too, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genlab.cli import main

TINY = [
    "model.channels=8",
    "model.multipliers=1,2",
    "model.attention=1",
    "train.batch_size=32",
    "train.sample_every=0",
]


@pytest.fixture(scope="module")
def flowmatch_run(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    run = tmp_path_factory.mktemp("cli") / "flowmatch"
    args = ["train", "flowmatch", "--data", "digits", "--steps", "8", "--out", str(run)]
    args += ["--device", device.type, "--quiet", "model.conditional=true", *TINY]
    assert main(args) == 0
    return run


@pytest.mark.parametrize(
    "options",
    [
        ["solver=euler", "nfe=3"],
        ["solver=heun", "nfe=4"],
        ["solver=dpmpp", "nfe=4", "label=3", "guidance=2"],
        ["solver=dopri5", "tolerance=0.01"],
    ],
)
def test_sample_with_each_solver(cli, flowmatch_run, tmp_path, options):
    out = tmp_path / "s.npz"
    res = cli("sample", flowmatch_run, "-n", 5, *options, "--out", out)
    assert res.code == 0, res.err
    with np.load(out) as f:
        x = f["samples"]
    assert x.shape == (5, 1, 8, 8) and x.min() >= 0 and x.max() <= 16


def test_eval_bits_per_dim_through_the_ode_states_its_estimator(cli, flowmatch_run):
    res = cli(
        "eval",
        flowmatch_run,
        "--metrics",
        "bpd",
        "--json",
        "model.nll_solver=heun",
        "model.nll_steps=3",
        "model.nll_draws=2",
    )
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["bpd"] > 0 and out["bpd_K"] == 2 and out["bpd_nfe"] == 6


def test_an_nfe_the_solver_cannot_spend_is_one_line(cli, flowmatch_run, tmp_path):
    res = cli("sample", flowmatch_run, "-n", 2, "solver=rk4", "nfe=6", "--out", tmp_path / "s.png")
    assert res.code != 0 and "multiple of 4" in res.err and res.err.count("\n") <= 1, res.err


def test_diffusion_bits_per_dim_through_its_ode(cli, tmp_path, device):
    run = tmp_path / "diffusion"
    args = ["train", "diffusion", "--data", "digits", "--steps", "4", "--out", str(run)]
    assert main([*args, "--device", device.type, "--quiet", *TINY]) == 0
    res = cli(
        "eval",
        run,
        "--metrics",
        "bpd",
        "--json",
        "model.nll_method=ode",
        "model.nll_solver=rk4",
        "model.nll_steps=2",
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["bpd"] > 0
