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
        (["--sampler", "euler"], "sampler='euler': expected one of ddpm|ddim|dpmpp|oneshot"),
        (["--sampler", "dpmpp", "--eta", "0.3"], "ddim"),
        (["--steps", "41"], "exceeds"),
        (["--label", "12"], "classes 0..9"),
    ],
)
def test_bad_sampling_options_are_one_line(cli, diffusion_run, tmp_path, args, message):
    res = cli("sample", diffusion_run, "-n", 2, *args, "--out", tmp_path / "x.npz")
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def _sample(cli, run, out, *args):
    res = cli("sample", run, "-n", 6, "--seed", 1, *args, "--out", out, "--quiet")
    assert res.code == 0, res.err
    with np.load(out) as f:
        return f["samples"]


def test_key_value_options_and_their_flag_aliases(cli, diffusion_run, tmp_path):
    keys = ["sampler=ddim", "steps=4", "eta=0.5", "spacing=quadratic"]
    by_keys = _sample(cli, diffusion_run, tmp_path / "a.npz", *keys)
    flags = ["--sampler", "ddim", "--steps", "4", "--eta", "0.5", "spacing=quadratic"]
    by_flags = _sample(cli, diffusion_run, tmp_path / "b.npz", *flags)
    assert np.array_equal(by_keys, by_flags)
    uniform = _sample(cli, diffusion_run, tmp_path / "c.npz", *keys[:3], "spacing=uniform")
    assert not np.array_equal(by_keys, uniform)  # spacing reaches the sampler
    guided = ["sampler=dpmpp", "steps=4", "label=3", "guidance=2"]
    assert _sample(cli, diffusion_run, tmp_path / "d.npz", *guided).shape == (6, 1, 8, 8)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["stpes=4"], ["unknown diffusion sampling option 'stpes'", "did you mean 'steps'?"]),
        (["stpes=4"], ["valid keys: sampler, steps, eta, spacing, guidance, label"]),
        (["steps=many"], ["steps='many': expected an integer"]),
        (["eta=-1"], ["eta=-1.0 is out of range: it must be at least 0"]),
        (["spacing=cubic"], ["spacing='cubic': expected one of uniform|quadratic|logsnr"]),
        (["--steps", "4", "steps=5"], ["steps is given twice (--steps 4 and steps=5)"]),
        (["model.steps=4"], ["unrecognized arguments: model.steps=4", "sampling options"]),
    ],
)
def test_bad_key_value_options_are_one_line(cli, diffusion_run, tmp_path, args, fragments):
    res = cli("sample", diffusion_run, "-n", 2, *args, "--out", tmp_path / "x.npz")
    assert res.code == 2
    res.error_line(*fragments)
    assert not (tmp_path / "x.npz").exists()


def test_eval_draws_its_samples_with_sample_options(cli, diffusion_run):
    args = ["eval", diffusion_run, "--metrics", "sharpness", "--n-samples", 8, "--json"]
    res = cli(*args, "sample.sampler=ddim", "sample.steps=2", "sample.eta=1")
    assert res.code == 0, res.err
    assert json.loads(res.out)["sharpness"] > 0
    cli(*args, "sample.stpes=2").error_line("unknown diffusion sampling option 'stpes'")
    cli(*args, "model.steps=2").error_line("only the model's evaluation keys (model.nll_*)")
