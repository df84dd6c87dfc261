"""Flow defaults on Fashion-MNIST (1x28x28, 256 levels): candidates at equal training
time, the chosen default's test bits/dim, every preset's speed and size.

1. ``presets``: for realnvp, glow and nsf with the Fashion-MNIST defaults (only
   ``model.preset`` changed): parameters and training images/s (forward, backward,
   AdamW step at the default batch, one thread, median of repeats).
2. ``candidates``: each trained with ``genlab train flow --data fashion-mnist`` for as
   many steps as ``--budget`` seconds of training allow at its measured speed (so every
   run completes its own warm-up and cosine schedule), then its validation bits/dim
   (1000 held-out train images) at the end and along the way, with the seconds spent.
   The rows merge into those already recorded (``--names`` reruns some candidates and
   keeps the rest); each row keeps its ``budget``, and every row's validation bits/dim is
   read at the CPU seconds of the shortest run.
3. ``default``: ``genlab train flow --data fashion-mnist --out RUN`` with no other option,
   its wall seconds and steps, then ``genlab eval RUN --metrics bpd`` on the full test
   split (10,000 images).

Skips (exit 0) when Fashion-MNIST is absent (``genlab fetch fashion-mnist``). Slow:
about ``len(candidates) * budget / jobs`` plus the default run (~15 minutes).

    python benchmarks/flow_defaults_fashion.py [--budget 240] [--jobs 1] [--only PART,...]
        [--names CANDIDATE-PREFIX,...]
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from common import cpu_training_rate, genlab_cmd, records, run, timed, validation

from genlab.config import RunConfig
from genlab.data import dataset_available
from genlab.runs import make_config

DATA = "fashion-mnist"
GLOW = {"model.preset": "glow"}
# overrides on top of the Fashion-MNIST defaults (which are the first candidate)
CANDIDATES: dict[str, dict[str, str]] = {
    "default (glow 32ch, 1 block, 8 steps/level, lr 8e-3)": {},
    "glow 64ch, 2 blocks, 4 steps (dataclass sizes), lr 1e-3": {
        **GLOW,
        "model.channels": "64",
        "model.blocks": "2",
        "model.steps": "4",
        "train.lr": "1e-3",
    },
    "glow 32ch, 2 blocks, 4 steps": {**GLOW, "model.blocks": "2", "model.steps": "4"},
    "glow 48ch": {**GLOW, "model.channels": "48"},
    "glow 16ch, 16 steps": {**GLOW, "model.channels": "16", "model.steps": "16"},
    "glow, lr 1e-3": {**GLOW, "train.lr": "1e-3"},
    "glow, no GroupNorm": {**GLOW, "model.norm": "none"},
    "realnvp (multi-scale)": {"model.preset": "realnvp"},
    "realnvp, gathered checkerboards": {"model.preset": "realnvp", "model.checker": "gather"},
    "nsf (multi-scale)": {"model.preset": "nsf"},
}


def resolved(overrides: dict[str, str]) -> RunConfig:
    return make_config("flow", overrides={"data.name": DATA, **overrides})


def speed(overrides: dict[str, str], repeats: int) -> dict[str, float]:
    return cpu_training_rate("flow", DATA, overrides, repeats)


def _at(curve: list[list[float]], seconds: float) -> float:
    """Validation bits/dim at ``seconds``, linear between evaluations."""
    if seconds <= curve[0][0]:
        return curve[0][1]
    for (t0, b0), (t1, b1) in zip(curve, curve[1:], strict=False):
        if t0 <= seconds <= t1:
            return b0 + (b1 - b0) * (seconds - t0) / max(t1 - t0, 1e-9)
    return curve[-1][1]


def candidate(name: str, overrides: dict[str, str], rate: dict, budget: float, out: Path) -> dict:
    """Train for about ``budget`` CPU seconds at ``rate``; the validation curve."""
    batch = resolved(overrides).train.batch_size
    steps = max(100, round(budget * rate["train_images_per_s"] / batch))
    flags = [f"{k}={v}" for k, v in overrides.items()]
    cmd = ["train", "flow", "--data", DATA, "--out", str(out), "--force", "--quiet"]
    wall, cpu = timed(genlab_cmd(*cmd, "--steps", str(steps), "train.eval_every=100", *flags))
    val = validation(out)
    row = {
        "overrides": overrides,
        **rate,
        "steps": steps,
        "batch_size": batch,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "val_bpd": min(r["bpd"] for r in val),
        # (CPU seconds, bits/dim), the seconds in proportion to the steps done
        "val_curve": [[round(cpu * r["step"] / steps, 1), round(r["bpd"], 4)] for r in val],
    }
    print(
        f"{name:52s} {row['params'] / 1e6:5.2f}M {rate['train_images_per_s']:5.0f} img/s "
        f"{steps:5d} steps {cpu:4.0f} cpu-s  val {row['val_bpd']:.4f}",
        flush=True,
    )
    return row


def candidates(budget: float, jobs: int, workdir: Path, names: list[str]) -> dict[str, dict]:
    """The candidates whose names start with one of ``names`` (all when empty), each at
    ``budget`` CPU seconds, ``jobs`` at once: name -> row."""
    chosen = {n: o for n, o in CANDIDATES.items() if not names or n.startswith(tuple(names))}
    rates = {name: speed(over, repeats=5) for name, over in chosen.items()}
    with ThreadPoolExecutor(jobs) as pool:
        futures = {
            name: pool.submit(candidate, name, over, rates[name], budget, workdir / f"c{i}")
            for i, (name, over) in enumerate(chosen.items())
        }
        return {name: {**f.result(), "budget": budget} for name, f in futures.items()}


def at_common_time(runs: dict[str, dict]) -> dict:
    """Every run's validation bits/dim at the CPU seconds of the shortest run."""
    common = min(r["cpu_seconds"] for r in runs.values())
    for r in runs.values():
        r["val_bpd_at_common_cpu_seconds"] = round(_at(r["val_curve"], common), 4)
    return {"common_cpu_seconds": common, "runs": runs}


def default_run(workdir: Path) -> dict:
    """The no-option default run, then its test bits/dim on the whole test split."""
    out = workdir / "default"
    wall, cpu = timed(
        genlab_cmd("train", "flow", "--data", DATA, "--out", str(out), "--force", "--quiet")
    )
    scores = json.loads(run(genlab_cmd("eval", str(out), "--metrics", "bpd", "--json", "--quiet")))
    cfg = resolved({})
    row = {
        "steps": cfg.train.steps,
        "batch_size": cfg.train.batch_size,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        **{k: v for k, v in records(out, "time")[-1].items() if k not in ("step", "kind")},
        "best_val_bpd": min(r["bpd"] for r in validation(out)),
        "test_bpd": scores["bpd"],
        "test_bpd_se": scores["bpd_se"],
        "test_images": scores["bpd_images"],
        "run": str(out),
    }
    print(
        f"default: {row['steps']} steps, {wall:.0f} s ({cpu:.0f} CPU s), "
        f"test {row['test_bpd']:.4f} +- {row['test_bpd_se']:.4f}",
        flush=True,
    )
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per candidate")
    p.add_argument("--jobs", type=int, default=1, help="candidates trained at once (1 thread each)")
    p.add_argument("--only", default="", help="comma-separated parts: presets,candidates,default")
    p.add_argument("--names", default="", help="comma-separated candidate name prefixes")
    p.add_argument("--workdir", default="runs/bench-flow-fashion")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / f"{Path(__file__).stem}.json")
    )
    args = p.parse_args()
    found, where = dataset_available(DATA)
    if not found:
        print(f"skipped: {where}")
        return
    os.environ["OMP_NUM_THREADS"] = "1"  # for the training subprocesses
    torch.set_num_threads(1)
    parts = set(args.only.split(",")) if args.only else {"presets", "candidates", "default"}
    workdir = Path(args.workdir)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result["protocol"] = (
        f"{DATA}, CPU, one thread per run, {args.jobs} run(s) at once on a shared machine; "
        "candidates: each row's budget of training seconds, validation on 1000 held-out "
        "train images; default: no options, test bits/dim on the full test split"
    )
    if "presets" in parts:
        rows = {}
        for preset in ("realnvp", "glow", "nsf"):
            rows[preset] = speed({"model.preset": preset}, repeats=10)
            print(f"{preset:8s} {rows[preset]}", flush=True)
        result["presets"] = rows
    if "candidates" in parts:
        names = [n for n in args.names.split(",") if n]
        # a --names run adds to (or replaces) its own rows and keeps the others
        runs = result.get("candidates", {}).get("runs", {})
        runs.update(candidates(args.budget, args.jobs, workdir, names))
        result["candidates"] = at_common_time(runs)
    if "default" in parts:
        result["default"] = default_run(workdir)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
