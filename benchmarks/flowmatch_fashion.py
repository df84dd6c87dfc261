"""Flow matching against the diffusion model on Fashion-MNIST at the same 10-minute,
one-thread budget, and both likelihoods through the probability-flow ODE.

1. ``train``: ``genlab train flowmatch --data fashion-mnist`` (defaults otherwise: the
   diffusion family's Fashion-MNIST U-Net and batch) into runs/bench-fashion/flowmatch,
   beside the diffusion run that benchmarks/fashion_quality.py trained there with
   ``--minutes 10`` (its record in results/fashion_quality.json), for the diffusion run's
   own number of steps: the same network, batch and images seen, so the same training
   FLOPs, whatever else shared the machine when either ran (``--minutes M`` instead plans
   from this machine's speed now).
2. ``samples``: ``genlab eval RUN --metrics fd,pr`` (1000 samples against the whole test
   split, FD with its bootstrap SE in the shipped feature network) for flow matching with
   Euler, Heun and DPM-Solver++ and for diffusion with DDIM and DPM-Solver++, each at 10
   and 20 network evaluations, with the seconds each took.
3. ``bpd``: bits/dim through the ODE (``model.nll_method=ode`` for diffusion) of a seeded
   subset of ``--bpd-images`` test images with the cheap estimator (dopri5 at tolerance
   ``--tolerance``, one Hutchinson probe, one dequantization draw), its SE across images
   and its cost per image (projected to the 10,000 images); then its bias: the same
   estimator against a tight solve (dopri5 at 1e-5, with the same probes and draws, so
   the difference is the solver's) on the first ``--bias-images`` of that subset, paired.

Results: results/flowmatch_fashion.json. Skips (exit 0) without Fashion-MNIST.

    python benchmarks/flowmatch_fashion.py [--only train,samples,bpd] [--minutes M]
        [--bpd-images 300] [--bias-images 50] [--tolerance 1e-3]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import genlab_cmd, run

from genlab.data import dataset_available
from genlab.metrics.likelihood import estimator_of
from genlab.runs import load_data, load_run

DATA = "fashion-mnist"
RESULTS = Path(__file__).parent / "results" / "flowmatch_fashion.json"
WORK = Path("runs/bench-fashion")
SAMPLERS = {
    "flowmatch": [
        ("euler", 10),
        ("euler", 20),
        ("heun", 10),
        ("heun", 20),
        ("dpmpp", 10),
        ("dpmpp", 20),
    ],
    "diffusion": [("ddim", 10), ("ddim", 20), ("dpmpp", 10), ("dpmpp", 20)],
}


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save(res: dict) -> None:
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")


def train(args: argparse.Namespace, res: dict) -> None:
    out = WORK / "flowmatch"
    started = time.perf_counter()
    cmd = ["train", "flowmatch", "--data", DATA, "--out", str(out), "--force", "--quiet"]
    budget = ["--minutes", str(args.minutes)] if args.minutes else []
    if not budget:
        steps = load_run(WORK / "diffusion").config.train.steps
        budget = ["--steps", str(steps)]
    run(genlab_cmd(*cmd, *budget))
    cfg = load_run(out).config
    res["train"] = {
        "run": str(out),
        "budget": " ".join(budget),
        "wall_seconds": time.perf_counter() - started,
        "steps": cfg.train.steps,
        "batch_size": cfg.train.batch_size,
        "diffusion_steps": load_run(WORK / "diffusion").config.train.steps,
        "model": {
            k: getattr(cfg.model, k) for k in ("path", "time_sampling", "channels", "multipliers")
        },
    }
    print(f"flowmatch trained: {cfg.train.steps} steps x {cfg.train.batch_size}", flush=True)


def samples(res: dict) -> None:
    rows = []
    for family, grid in SAMPLERS.items():
        key = "solver" if family == "flowmatch" else "sampler"
        count = "nfe" if family == "flowmatch" else "steps"
        for name, nfe in grid:
            started = time.perf_counter()
            ev = ["eval", str(WORK / family), "--json", "--quiet", "--metrics", "fd,pr"]
            out = json.loads(run(genlab_cmd(*ev, f"sample.{key}={name}", f"sample.{count}={nfe}")))
            row = {
                "family": family,
                "sampler": name,
                "nfe": nfe,
                "seconds": time.perf_counter() - started,
            }
            rows.append(
                row | {k: out[k] for k in ("fd", "fd_se", "precision", "recall", "feature_net")}
            )
            print(
                f"{family:9s} {name:6s} NFE {nfe:2d}  FD {out['fd']:.2f} +- {out['fd_se']:.2f}",
                flush=True,
            )
    res["samples"] = rows


def _bpd(model: torch.nn.Module, x: torch.Tensor, dims: int) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    parts = []
    with torch.no_grad():
        for batch in x.split(50):
            parts.append(model.nll(batch).double() / (dims * math.log(2)))
    return torch.cat(parts), time.perf_counter() - started


def bpd(args: argparse.Namespace, res: dict) -> None:
    rows = {}
    for family in ("flowmatch", "diffusion"):
        loaded = load_run(WORK / family)
        test = load_data(loaded.config.data).test.x
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(test), generator=g)[: args.bpd_images]
        x = test[idx]
        model, dims = loaded.model.eval(), loaded.meta.dims
        base = {
            "nll_solver": "dopri5",
            "nll_divergence": "hutchinson",
            "nll_probes": 1,
            "nll_draws": 1,
        }
        if family == "diffusion":
            base["nll_method"] = "ode"
        torch.manual_seed(0)
        model.config = replace(model.config, **base, nll_tolerance=args.tolerance)
        cheap, seconds = _bpd(model, x, dims)
        statement = estimator_of(model)
        torch.manual_seed(1)
        k = args.bias_images
        again, _ = _bpd(model, x[:k], dims)
        model.config = replace(model.config, nll_tolerance=1e-5)
        torch.manual_seed(1)  # the same probes and draws: the difference is the solver's
        tight, tight_s = _bpd(model, x[:k], dims)
        diff = again - tight
        rows[family] = {
            "images": len(x),
            "bpd": float(cheap.mean()),
            "bpd_se": float(cheap.std() / math.sqrt(len(cheap))),
            "seconds": seconds,
            "seconds_per_image": seconds / len(x),
            "projected_test_split_minutes": seconds / len(x) * 10_000 / 60,
            "estimator": statement,
            "bias_images": k,
            "bias_vs_tolerance_1e-5": float(diff.mean()),
            "bias_se": float(diff.std() / math.sqrt(k)),
            "tight_seconds_per_image": tight_s / k,
        }
        r = rows[family]
        print(
            f"{family:9s} ODE bpd {r['bpd']:.3f} +- {r['bpd_se']:.3f} "
            f"({r['seconds_per_image']:.2f} s/img, 10k: {r['projected_test_split_minutes']:.0f}"
            f" min), bias {r['bias_vs_tolerance_1e-5']:+.4f} +- {r['bias_se']:.4f}",
            flush=True,
        )
    res["bpd"] = rows | {"protocol": f"seeded subset of {args.bpd_images} test images (seed 0)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="train,samples,bpd")
    p.add_argument("--minutes", type=float, default=0.0, help="0: the diffusion run's steps")
    p.add_argument("--bpd-images", type=int, default=300)
    p.add_argument("--bias-images", type=int, default=50)
    p.add_argument("--tolerance", type=float, default=1e-3)
    args = p.parse_args()
    if not dataset_available(DATA):
        print(f"{DATA} not found; skipped")
        return
    torch.set_num_threads(1)
    res = load()
    parts = args.only.split(",")
    for name, fn in (
        ("train", lambda: train(args, res)),
        ("samples", lambda: samples(res)),
        ("bpd", lambda: bpd(args, res)),
    ):
        if name in parts:
            fn()
            save(res)


if __name__ == "__main__":
    main()
