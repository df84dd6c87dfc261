"""Diffusion and VAE defaults on Fashion-MNIST (1x28x28): sizes and batch sizes at equal
CPU time, judged by their samples (and the VAE's validation bits/dim) on VALIDATION data.

For each candidate of ``--family`` (overrides on top of the current Fashion-MNIST
defaults): parameters and training images per CPU second (one thread, median of
repeats), then ``genlab train FAMILY --data fashion-mnist`` for as many steps as
``--budget`` CPU seconds allow (each run completes its own warm-up and cosine schedule;
``--steps`` fixes the steps instead), then N samples (``genlab sample RUN -n N``; diffusion:
the default sampler, DPM-Solver++ at 20 steps) scored for FD, KID, precision/recall and
sharpness in the feature network's space, and a 64-sample grid.

``--reference validation`` (the default, the one to choose by): every run holds out a
seeded part of train (``train.val_fraction=0.1``, at most ``train.val_max`` images,
seeded by ``train.seed``: the same images for every candidate; a family that already
validates keeps its own) and the samples are scored against that held-out part. The
feature network is the dataset's usual one (trained on the whole train split, the test
split read only for its reported accuracy); only the reference set changes.
``--reference test`` scores against the whole test split, as the runs recorded before
this option were (their rows say ``"reference": "test"`` or nothing): for reporting, not
for choosing. The floor (train images against the test split) is in
results/feature_net.json. Results go to results/defaults_fashion_FAMILY.json.
(Flows: flow_defaults_fashion.py.)

Skips (exit 0) when Fashion-MNIST is absent. About ``len(candidates) * (budget + eval) /
jobs``.

    python benchmarks/defaults_fashion.py --family diffusion [--budget 360] [--only 0,2]
        [--reference validation|test]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from common import cpu_training_rate, genlab_cmd, records, run, timed

from genlab.data import dataset_available
from genlab.inference import read_samples
from genlab.metrics import evaluate_samples
from genlab.runs import load_data, load_run, make_config
from genlab.train.validation import split_validation

DATA = "fashion-mnist"
DIFFUSION: dict[str, dict[str, str]] = {
    "default": {},
    # the family's generic U-Net, spelled out: data_defaults would otherwise shrink it
    "24ch (1,2,3), batch 64": {
        "model.channels": "24",
        "model.multipliers": "1,2,3",
        "train.batch_size": "64",
    },
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
# the held-out part of train, for a family that trains on all of it (diffusion)
HOLD_OUT = {"train.val_fraction": "0.1"}
METRICS = ("fd", "kid", "pr", "sharpness")


FAMILY = "diffusion"  # set by --family


def resolved(overrides: dict[str, str]):
    return make_config(FAMILY, overrides={"data.name": DATA, **overrides})


def speed(overrides: dict[str, str], repeats: int) -> dict[str, float]:
    return cpu_training_rate(FAMILY, DATA, overrides, repeats)


def held_out(overrides: dict[str, str], reference: str) -> dict[str, str]:
    """The overrides that make a run hold out its validation part, when it does not."""
    if reference != "validation" or resolved(overrides).train.val_fraction > 0:
        return {}
    return dict(HOLD_OUT)


def validation_scores(out: Path, n: int) -> dict[str, float]:
    """``n`` samples of the run (seed 0, its default sampler) against the part of train
    it held out (``split_validation`` with the run's own config)."""
    samples_path = out / "samples.npz"
    run(genlab_cmd("sample", str(out), "-n", str(n), "--out", str(samples_path), "--quiet"))
    loaded = load_run(out)
    ds = load_data(loaded.config.data)
    _, val = split_validation(ds.train, loaded.config.train)
    assert val is not None, f"{out} held out no validation part"
    samples = read_samples(samples_path, loaded.meta)
    # the same dataset (so the same feature network, keyed on the train split) with the
    # held-out part as the split that samples are compared with
    as_reference = dataclasses.replace(ds, test=val)
    g = torch.Generator().manual_seed(0)
    return evaluate_samples(samples, as_reference, METRICS, generator=g)


def test_scores(out: Path, n: int) -> dict[str, float]:
    """``genlab eval``'s sample metrics of ``n`` samples against the whole test split."""
    ev = ["eval", str(out), "--json", "--quiet", "--metrics", ",".join(METRICS)]
    return json.loads(run(genlab_cmd(*ev, "--n-samples", str(n))))


def candidate(name: str, overrides: dict, rate: dict, args: argparse.Namespace, out: Path):
    overrides = {**overrides, **held_out(overrides, args.reference)}
    batch = resolved(overrides).train.batch_size
    steps = args.steps or max(100, round(args.budget * rate["train_images_per_s"] / batch))
    flags = [f"{k}={v}" for k, v in overrides.items()]
    cmd = ["train", FAMILY, "--data", DATA, "--out", str(out), "--force", "--quiet"]
    wall, cpu = timed(genlab_cmd(*cmd, "--steps", str(steps), *flags))
    started = time.perf_counter()
    score = validation_scores if args.reference == "validation" else test_scores
    scores = score(out, args.samples)
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
        "reference": args.reference,
        "n_reference": scores["n_reference"],
        **{k: scores[k] for k in ("fd", "fd_se", "kid", "precision", "recall", "sharpness")},
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
    p.add_argument(
        "--reference",
        choices=("validation", "test"),
        default="validation",
        help="what samples are scored against: a held-out part of train (to choose) or test",
    )
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
        + f" each; {args.samples} samples (diffusion: DPM-Solver++, 20 steps) against each "
        "row's reference: validation, the run's held-out part of train (train.val_fraction, "
        "seeded), or test, the whole test split (rows without one: test)"
    )
    result.setdefault("runs", {}).update(rows)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
