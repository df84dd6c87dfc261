"""Sampling options of the vae and flow families through ``genlab sample key=value``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genlab.cli import main


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    run = tmp_path_factory.mktemp("cli") / "vae"
    args = ["train", "vae", "--data", "digits", "--steps", "3", "--out", str(run), "--quiet"]
    extra = ["model.hidden=16", "model.nll_samples=4", "train.sample_every=0"]
    assert main([*args, "--device", device.type, *extra]) == 0
    return run


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    run = tmp_path_factory.mktemp("cli") / "flow"
    args = ["train", "flow", "--data", "toy2d:moons", "--steps", "3", "--out", str(run)]
    extra = ["--quiet", "train.sample_every=0", "model.hidden=16", "data.toy_samples=500"]
    assert main([*args, "--device", device.type, *extra]) == 0
    return run


def _sample(cli, run: Path, out: Path, *args: object) -> np.ndarray:
    res = cli("sample", run, "-n", 200, "--seed", 5, *args, "--out", out, "--quiet")
    assert res.code == 0, res.err
    with np.load(out) as f:
        return f["samples"]


def test_vae_mode_mean(cli, vae_run, tmp_path):
    mean = _sample(cli, vae_run, tmp_path / "m.npz", "mode=mean")
    again = _sample(cli, vae_run, tmp_path / "m2.npz", "mode=mean")
    drawn = _sample(cli, vae_run, tmp_path / "s.npz")
    assert np.array_equal(mean, again) and not np.array_equal(mean, drawn)
    # the decoder's mean has none of its pixel noise: far less spread among neighbours
    assert np.abs(np.diff(mean, axis=-1)).mean() < np.abs(np.diff(drawn, axis=-1)).mean()


def test_flow_temperature(cli, flow_run, tmp_path):
    spread = {
        t: _sample(cli, flow_run, tmp_path / f"t{t}.npz", f"temperature={t}").std(0).mean()
        for t in (0, 0.5, 1)
    }
    assert spread[0] < 1e-5 and 1e-3 < spread[0.5] < 0.75 * spread[1]


@pytest.mark.parametrize(
    ("family", "args", "fragments"),
    [
        ("vae", ["mode=median"], ["mode='median': expected one of sample|mean"]),
        ("vae", ["steps=10"], ["unknown vae sampling option 'steps'", "valid keys: mode"]),
        ("vae", ["--eta", "0.5"], ["unknown vae sampling option 'eta'"]),
        ("flow", ["temperature=-1"], ["temperature=-1.0 is out of range"]),
        ("flow", ["temprature=0.7"], ["did you mean 'temperature'?"]),
    ],
)
def test_bad_options_are_one_line(cli, vae_run, flow_run, tmp_path, family, args, fragments):
    run = {"vae": vae_run, "flow": flow_run}[family]
    res = cli("sample", run, "-n", 2, *args, "--out", tmp_path / "x.npz")
    res.error_line(*fragments)
    assert res.code == 2 and not (tmp_path / "x.npz").exists()
