"""The diffusion family through the command line: a tiny class-conditional run, sampled
with every sampler and with guidance, scored, and one-line errors for bad options."""

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
    "model.timesteps=40",
    "model.nll_timesteps=5",
    "train.batch_size=32",
    "train.sample_every=0",
]


@pytest.fixture(scope="module")
def diffusion_run(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    run = tmp_path_factory.mktemp("cli") / "diffusion"
    args = ["train", "diffusion", "--data", "digits", "--steps", "8", "--out", str(run)]
    args += ["--device", device.type, "--quiet", "model.conditional=true", *TINY]
    assert main(args) == 0
    return run


@pytest.mark.parametrize(
    ("sampler", "extra"),
    [
        ("ddpm", []),
        ("ddim", ["--eta", "0.5"]),
        ("dpmpp", ["--label", "3", "--guidance", "2"]),
        ("oneshot", []),
    ],
)
def test_sample_with_each_sampler(cli, diffusion_run, tmp_path, sampler, extra):
    out = tmp_path / "s.npz"
    res = cli(
        "sample", diffusion_run, "-n", 6, "--sampler", sampler, "--steps", 4, *extra, "--out", out
    )
    assert res.code == 0, res.err
    with np.load(out) as f:
        x = f["samples"]
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 16


def test_eval_bits_per_dim(cli, diffusion_run, tmp_path):
    res = cli("eval", diffusion_run, "--metrics", "bpd", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["bpd"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sampler", "euler"], "unknown sampler"),
        (["--sampler", "dpmpp", "--eta", "0.3"], "ddim"),
        (["--steps", "41"], "exceeds"),
        (["--label", "12"], "classes 0..9"),
    ],
)
def test_bad_sampling_options_are_one_line(cli, diffusion_run, tmp_path, args, message):
    res = cli("sample", diffusion_run, "-n", 2, *args, "--out", tmp_path / "x.npz")
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
