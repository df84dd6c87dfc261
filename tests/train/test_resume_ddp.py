"""Exact resume after SIGKILL, and two-process DDP, run as real subprocesses."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

HERE = Path(__file__).parent
SCRIPT = HERE / "toy_family.py"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"  # same threads in every run: identical reductions
    return env


def _run(*args, check=True):
    cmd = [sys.executable, str(SCRIPT), *map(str, args)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=150)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


COMMON = [
    "--steps",
    "60",
    "train.ckpt_every=20",
    "train.eval_every=10",
    "train.sample_every=30",
    "train.val_fraction=0.1",
    "train.device=cpu",
    "train.batch_size=32",
]


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _run(full, *COMMON)
    killed = _run(cut, *COMMON, "--kill-at", "33", check=False)
    assert killed.returncode == -signal.SIGKILL
    state = torch.load(cut / "trainer_state.pt", weights_only=True)
    assert state["step"] == 20  # the last checkpoint before the kill
    _run(cut, "--resume")
    for name in ("model.safetensors", "ema.safetensors", "best.safetensors"):
        a, b = load_file(full / name), load_file(cut / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}:{k} differs after resume"
    # the log reads as one uninterrupted run: every train step logged once
    steps = [
        json.loads(line)["step"]
        for line in (cut / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["kind"] == "train"
    ]
    assert steps == sorted(set(steps)) and steps[-1] == 60


def test_two_process_ddp_ranks_agree_and_only_rank0_writes(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun comes with torch"
    run, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        str(SCRIPT),
        str(run),
        "--steps",
        "24",
        "--dump",
        str(dump),
        "train.device=cpu",
        "train.batch_size=32",
        "train.ckpt_every=12",
        "train.progress=false",
        "train.log_every=4",
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(dump / "rank0.safetensors"), load_file(dump / "rank1.safetensors")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    # rank 0 alone wrote the run: one log line per logged step, one world size
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [x["step"] for x in lines if x["kind"] == "train"]
    assert train_steps == [4, 8, 12, 16, 20, 24]
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    saved = load_file(run / "model.safetensors")
    for k in r0:
        assert torch.equal(saved[k], r0[k])


def test_ddp_equals_single_process_on_the_same_global_batch(tmp_path):
    """Averaging gradients of two half-batches equals the full-batch gradient, so a
    2-process run follows the 1-process run (pixelwise: no randomness in its loss)."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    args = [
        "train",
        "pixelwise",
        "--data",
        "digits",
        "--steps",
        "40",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "train.sample_every=0",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    p1 = subprocess.run(
        [sys.executable, "-m", "genlab", *args, "--out", str(one)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p1.returncode == 0, p1.stderr[-2000:]
    p2 = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "genlab", *args, "--out", str(two)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p2.returncode == 0, p2.stderr[-3000:]
    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    torch.testing.assert_close(a["logits"], b["logits"], rtol=1e-4, atol=1e-4)
    assert not torch.equal(a["logits"], torch.zeros_like(a["logits"]))


def test_a_signal_on_one_rank_stops_every_rank_at_its_step(tmp_path):
    """SIGTERM reaches rank 1 alone at step 10: both ranks stop after that step, rank 0
    writes the checkpoint at it, and a resumed 2-process run ends as the one never
    stopped."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    args = ["--steps", "24", "train.device=cpu", "train.batch_size=32", "train.ckpt_every=12",
            "train.ckpt_minutes=0", "train.log_every=2"]  # fmt: skip

    def ddp(run, *more):
        cmd = [torchrun, "--standalone", "--nproc_per_node=2", str(SCRIPT), str(run), *args, *more]
        return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=150)

    full, cut = tmp_path / "full", tmp_path / "cut"
    assert ddp(full).returncode == 0
    stopped = ddp(cut, "--sigterm-at", "10", "--sigterm-rank", "1")
    assert stopped.returncode != 0
    state = torch.load(cut / "trainer_state.pt", weights_only=True)
    assert state["step"] == 10 and state["world_size"] == 2 and len(state["rng"]) == 2
    resumed = ddp(cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(full / name), load_file(cut / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
