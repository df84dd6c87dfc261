"""Diffusion and VAE defaults on Fashion-MNIST (1x28x28): sizes and batch sizes at equal
CPU time, judged by their samples (and the VAE's validation bits/dim).

For each candidate of ``--family`` (overrides on top of the current Fashion-MNIST
defaults): parameters and training images per CPU second (one thread, median of
repeats), then ``genlab train FAMILY --data fashion-mnist`` for as many steps as
``--budget`` CPU seconds allow (each run completes its own warm-up and cosine schedule;
``--steps`` fixes the steps instead), then ``genlab eval RUN --metrics
fd,kid,pr,sharpness --n-samples N`` (diffusion: the default sampler, DPM-Solver++ at 20
steps) against the whole test split in the feature network's space, and a 64-sample
grid. The floor (train images against the test split) is in results/feature_net.json
(FD 0.46 for 1000 images). Results go to results/defaults_fashion_FAMILY.json.
(Flows: flow_defaults_fashion.py.)

Skips (exit 0) when Fashion-MNIST is absent. About ``len(candidates) * (budget + eval) /
jobs``.

    python benchmarks/defaults_fashion.py --family diffusion [--budget 360] [--only 0,2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from common import cpu_training_rate, genlab_cmd, records, run, timed

from genlab.data import dataset_available
from genlab.runs import make_config

DATA = "fashion-mnist"
DIFFUSION: dict[str, dict[str, str]] = {
    "default": {},
    "24ch (1,2,3), batch 64": {"train.batch_size": "64"},
    "16ch (1,2,2), batch 64": {
        "model.channels": "16",
        "model.multipliers": "1,2,2",
        "train.batch_size": "64",
    },
    "16ch (1,2,2), batch 32": {
        "model.channels": "16",
        "model.multipliers": "1,2,2",
        "train.batch_size": "32",
    },
}
VAE: dict[str, dict[str, str]] = {
    "default": {},
    "latent 32": {"model.latent": "32"},
    "latent 64": {"model.latent": "64"},
    "latent 32, lr 2e-3": {"model.latent": "32", "train.lr": "2e-3"},
}
CANDIDATES = {"diffusion": DIFFUSION, "vae": VAE}


FAMILY = "diffusion"  # set by --family


def resolved(overrides: dict[str, str]):
    return make_config(FAMILY, overrides={"data.name": DATA, **overrides})


def speed(overrides: dict[str, str], repeats: int) -> dict[str, float]:
    return cpu_training_rate(FAMILY, DATA, overrides, repeats)


def candidate(name: str, overrides: dict, rate: dict, args: argparse.Namespace, out: Path):
    batch = resolved(overrides).train.batch_size
    steps = args.steps or max(100, round(args.budget * rate["train_images_per_s"] / batch))
    flags = [f"{k}={v}" for k, v in overrides.items()]
    cmd = ["train", FAMILY, "--data", DATA, "--out", str(out), "--force", "--quiet"]
    wall, cpu = timed(genlab_cmd(*cmd, "--steps", str(steps), *flags))
    ev = ["eval", str(out), "--json", "--quiet", "--metrics", "fd,kid,pr,sharpness"]
    started = time.perf_counter()
    scores = json.loads(run(genlab_cmd(*ev, "--n-samples", str(args.samples))))
    eval_s = time.perf_counter() - started
    grid = out / "grid.png"
    run(genlab_cmd("sample", str(out), "-n", "64", "--out", str(grid), "--quiet"))
    row = {
        "overrides": overrides,
        **rate,
        "steps": steps,
        "batch_size": batch,
        "images_seen": steps * batch,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "eval_seconds": eval_s,
        **{k: scores[k] for k in ("fd", "kid", "precision", "recall", "sharpness")},
        "grid": str(grid),
    }
    val = records(out, "val")
    if val:
        row["best_val_bpd"] = min(r["bpd"] for r in val)
        row["time_shares"] = records(out, "time")[-1]
    print(
        f"{name:40s} {row['params'] / 1e6:5.2f}M {rate['train_images_per_s']:5.0f} img/s "
        f"{steps:5d} steps {cpu:4.0f} cpu-s  FD {row['fd']:.2f} prec {row['precision']:.2f} "
        f"rec {row['recall']:.2f} sharp {row['sharpness']:.2f} val {row.get('best_val_bpd', '-')}",
        flush=True,
    )
    return row


def main() -> None:
    global FAMILY
    p = argparse.ArgumentParser()
    p.add_argument("--family", choices=sorted(CANDIDATES), default="diffusion")
    p.add_argument("--steps", type=int, default=0, help="fixed steps (0: from --budget)")
    p.add_argument("--budget", type=float, default=360.0, help="training CPU s per candidate")
    p.add_argument("--jobs", type=int, default=1, help="candidates trained at once (1 thread each)")
    p.add_argument("--samples", type=int, default=1000, help="samples scored per candidate")
    p.add_argument("--only", default="", help="comma-separated candidate numbers (0-based)")
    p.add_argument("--workdir", default="")
    p.add_argument("--out", default="")
    args = p.parse_args()
    FAMILY = args.family
    results = Path(__file__).parent / "results"
    args.out = args.out or str(results / f"defaults_fashion_{FAMILY}.json")
    args.workdir = args.workdir or f"runs/bench-{FAMILY}-fashion"
    found, where = dataset_available(DATA)
    if not found:
        print(f"skipped: {where}")
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    table = CANDIDATES[FAMILY]
    names = list(table)
    if args.only:
        names = [names[int(i)] for i in args.only.split(",")]
    rates = {n: speed(table[n], repeats=3) for n in names}
    for n in names:
        print(f"{n:40s} {rates[n]}", flush=True)
    workdir = Path(args.workdir)
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            n: pool.submit(candidate, n, table[n], rates[n], args, workdir / f"c{names.index(n)}")
            for n in names
        }
        rows = {n: f.result() for n, f in futures.items()}
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result["protocol"] = (
        f"{DATA}, CPU, one thread per run, {args.jobs} at once on a shared machine; "
        + (f"{args.steps} steps" if args.steps else f"{args.budget:.0f} CPU s of training")
        + f" each; {args.samples} samples (diffusion: DPM-Solver++, 20 steps) against the "
        "whole test split; floor FD 0.46 (results/feature_net.json)"
    )
    result.setdefault("runs", {}).update(rows)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
