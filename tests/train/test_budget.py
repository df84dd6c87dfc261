"""The time budget (``train.minutes``): the step count against a brute-force count of a
run's time, the probe leaving the run exactly the ``--steps S`` run, the plan recorded."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from genlab.runs import make_config, read_config, train_run
from genlab.train.budget import Costs


@pytest.mark.parametrize(
    ("step_s", "val_s", "sample_s", "every", "grid_every"),
    [
        (0.1, 0.0, 0.0, 250, 0),
        (0.37, 2.5, 0.0, 50, 0),
        (0.02, 0.7, 3.1, 25, 100),
        (1.0, 9.0, 0.5, 1, 3),
    ],
)
def test_steps_are_the_most_that_fit(step_s, val_s, sample_s, every, grid_every):
    """Against a loop adding one step at a time: the largest S whose time fits."""
    costs = Costs(step_s, val_s, sample_s, every, grid_every)
    for seconds in (5.0, 61.0, 180.0, 1234.5):
        brute, vals, grids, s = 0, 0, 0, 0
        while True:  # count the events of a run one step at a time
            s += 1
            vals += bool(val_s) and s % every == 0
            grids += bool(grid_every and sample_s) and s % grid_every == 0
            end_val = bool(val_s) and s % every != 0  # the final validation and grid
            end_grid = bool(grid_every and sample_s) and s % grid_every != 0
            t = s * step_s + (vals + end_val) * val_s + (grids + end_grid) * sample_s
            if t > seconds:
                break
            brute = s
        assert costs.steps_within(seconds) == max(1, brute)
        assert costs.seconds(brute) <= seconds < costs.seconds(brute + 1)


def test_a_planned_run_is_the_run_its_steps_train(tmp_path, device):
    """--minutes: the probe writes nothing and leaves every random stream as it was, so
    the run equals --steps S with the S it planned (recorded in config.yaml and the log)."""
    over = {"data.name": "digits", "train.device": device.type, "train.progress": "false"}
    over |= {"train.sample_every": "0", "model.hidden": "16"}
    planned = tmp_path / "planned"
    train_run(make_config("vae", overrides=over | {"train.minutes": "0.05"}), planned)
    cfg, _ = read_config(planned)
    assert cfg.train.minutes == 0.05 and cfg.train.steps >= 1
    records = [json.loads(x) for x in (planned / "metrics.jsonl").read_text().splitlines()]
    (plan,) = [r for r in records if r["kind"] == "plan"]
    assert plan["steps"] == cfg.train.steps and plan["step_s"] > 0 and plan["val_s"] > 0
    fixed = tmp_path / "fixed"
    train_run(make_config("vae", overrides=over | {"train.steps": str(cfg.train.steps)}), fixed)
    for name in ("model", "ema", "best"):
        a, b = load_file(planned / f"{name}.safetensors"), load_file(fixed / f"{name}.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.slow
def test_three_minutes_on_fashion_mnist_take_three_minutes(tmp_path):
    """The issue's check: ``genlab train diffusion --data fashion-mnist --minutes 3`` on one
    thread trains for 3 minutes to within 10%, the planned steps in config.yaml."""
    import subprocess
    import sys
    import time

    from genlab.data import dataset_available

    if not dataset_available("fashion-mnist")[0]:
        pytest.skip("Fashion-MNIST is not installed (make fashion-mnist)")
    run = tmp_path / "r"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "genlab", "train", "diffusion", "--data", "fashion-mnist",
         "--minutes", "3", "--out", str(run), "--threads", "1", "--quiet"],
        check=True,
    )  # fmt: skip
    wall = time.monotonic() - started
    cfg, _ = read_config(run)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    (plan,) = [r for r in records if r["kind"] == "plan"]
    assert cfg.train.minutes == 3 and cfg.train.steps == plan["steps"] > 100
    # the command's wall time holds start-up and data loading (seconds) besides the budget
    assert abs(wall - 180) <= 18, wall
