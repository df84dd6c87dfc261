"""Stopping a real CLI run with SIGINT and SIGTERM, before and after its first scheduled
checkpoint: the run writes a checkpoint at the step it reached, prints the command that
resumes it and exits 130 / 143; resumed with that command it ends bit-identical (model,
EMA and best weights) to the same run never stopped. (A second signal: tests/train/
test_stopping.py.)"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genlab

STEPS = 240
ARGS = [
    "train", "diffusion", "--data", "digits", "--steps", str(STEPS), "--quiet", "--threads", "1",
    "model.channels=8", "model.timesteps=50", "train.val_fraction=0.1", "train.select=best",
    "train.eval_every=20",
    "train.log_every=1", "train.ckpt_every=150", "train.ckpt_minutes=0", "train.sample_every=0",
    "train.device=cpu",
]  # fmt: skip
ENV = {**os.environ, "PYTHONPATH": str(Path(genlab.__file__).parents[1])}


def genlab_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "genlab", *args]


def step_reached(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    # the run appends while this reads: the text after the last newline may be a line cut
    # mid-write, so only complete lines count
    complete = path.read_text().split("\n")[:-1]
    steps = [json.loads(x)["step"] for x in complete if '"train"' in x]
    return max(steps, default=0)


def stopped(run: Path, at: int, *signals: signal.Signals) -> subprocess.CompletedProcess[str]:
    """Train into ``run``, send ``signals`` once a train record of step >= ``at`` exists."""
    proc = subprocess.Popen(
        genlab_cmd(*ARGS, "--out", str(run)), env=ENV, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while step_reached(run) < at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the signal"
    for s in signals:
        proc.send_signal(s)
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


def weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {n: load_file(run / f"{n}.safetensors") for n in ("model", "ema", "best")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict[str, torch.Tensor]]:
    run = tmp_path_factory.mktemp("stop") / "never-stopped"
    subprocess.run(genlab_cmd(*ARGS, "--out", str(run)), env=ENV, check=True)
    return weights(run)


@pytest.mark.parametrize(
    ("sig", "at", "code"),
    [(signal.SIGINT, 40, 130), (signal.SIGTERM, 170, 143)],
    ids=["sigint-before-first-checkpoint", "sigterm-after-it"],
)
def test_a_stopped_run_resumes_bit_identical(tmp_path, reference, sig, at, code):
    run = tmp_path / "run"
    done = stopped(run, at, sig)
    assert done.returncode == code, done.stderr
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    assert at <= state["step"] < STEPS  # a checkpoint at the step reached, not the last one
    line = done.stderr.strip().splitlines()[-1]
    assert f"stopped at step {state['step']} of {STEPS}" in line, line
    command = re.search(r"resume with: (genlab .*)$", line)
    assert command is not None and command.group(1).endswith("--resume"), line
    resumed = subprocess.run(
        genlab_cmd(*shlex.split(command.group(1))[1:]), env=ENV, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    got = weights(run)
    for name, tensors in reference.items():
        assert tensors.keys() == got[name].keys()
        assert all(torch.equal(tensors[k], got[name][k]) for k in tensors), name
