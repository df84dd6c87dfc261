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
from typing import Any

import torch
from common import genlab_cmd, run

from genlab.data import dataset_available
from genlab.metrics.likelihood import estimator_of
from genlab.runs import load_data, load_run

DATA = "fashion-mnist"
RESULTS = Path(__file__).parent / "results" / "flowmatch_fashion.json"
WORK = Path("runs/bench-fashion")
BPD_BATCH = 50
TIGHT = 1e-5  # dopri5's rtol = atol of the reference solve
T_MINS = (0.05, 0.1, 0.25, 0.5)  # the diffusion ODE's start, in timesteps
GRID_STEPS = (6, 8, 12)  # rk4 steps (4 NFE each)
GRID_SPACINGS = (1.0, 2.0, 3.0, 4.0)
BIAS_LIMIT = 0.01  # bits/dim
DRAWS = 4  # K of the importance-weighted dequantization compared with K = 1
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


def _bpd(
    model: torch.nn.Module, x: torch.Tensor, dims: int, *, seed: int | None = None, what: str = ""
) -> tuple[torch.Tensor, float]:
    """(N,) bits/dim of ``model.nll`` in batches of 50 and the seconds it took; ``seed``
    seeds torch's generator first (the probes and dequantization draws)."""
    if seed is not None:
        torch.manual_seed(seed)
    started = time.perf_counter()
    parts = []
    with torch.no_grad():
        for i, batch in enumerate(x.split(BPD_BATCH)):
            parts.append(model.nll(batch).double() / (dims * math.log(2)))
            done = (i + 1) * BPD_BATCH
            if what and (i + 1) % 20 == 0:
                spent = time.perf_counter() - started
                print(f"  {what}: {done}/{len(x)}, ETA {spent / done * (len(x) - done):.0f} s")
    return torch.cat(parts), time.perf_counter() - started


def _se(x: torch.Tensor) -> float:
    return float(x.std() / math.sqrt(len(x)))


def _model(family: str) -> tuple[torch.nn.Module, int, Any]:
    """The run's model with the shared estimator settings (one Hutchinson probe, one
    draw), its dims and its data."""
    loaded = load_run(WORK / family)
    model = loaded.model.eval()
    base: dict[str, Any] = {"nll_divergence": "hutchinson", "nll_probes": 1, "nll_draws": 1}
    if family == "diffusion":
        base["nll_method"] = "ode"
    model.config = replace(model.config, **base)
    return model, loaded.meta.dims, load_data(loaded.config.data)


def _set(model: torch.nn.Module, **keys: Any) -> None:
    model.config = replace(model.config, **{f"nll_{k}": v for k, v in keys.items()})


def _tight(model: torch.nn.Module) -> None:
    _set(model, solver="dopri5", tolerance=TIGHT)


def grid(args: argparse.Namespace, res: dict) -> None:
    """The fixed grid chosen on train images: the diffusion model's t_min (lowest bound),
    then the grid of fewest NFE whose bias against a tight solve is below BIAS_LIMIT."""
    rows = {}
    for family in ("flowmatch", "diffusion"):
        model, dims, data = _model(family)
        g = torch.Generator().manual_seed(0)
        x = data.train.x[torch.randperm(len(data.train.x), generator=g)[: args.grid_images]]
        row: dict[str, Any] = {"images": len(x), "data": "seeded train images (seed 0)"}
        if family == "diffusion":
            _set(model, solver="dopri5", tolerance=1e-3)
            default = model.config.nll_t_min  # the run's, before the candidates replace it
            scores = {}
            for t_min in sorted({*T_MINS, default}):
                _set(model, t_min=t_min)
                scores[t_min], _ = _bpd(model, x, dims, seed=1)
            best = min(scores, key=lambda t: float(scores[t].mean()))
            diff = scores[best] - scores[default]
            chosen = best if float(diff.mean()) + 2 * _se(diff) < 0 else default
            row["t_min"] = {
                "solver": "dopri5 at tolerance 1e-3",
                "bpd": {str(t): float(v.mean()) for t, v in scores.items()},
                "best_minus_default": float(diff.mean()),
                "best_minus_default_se": _se(diff),
                "default": default,
                "chosen": chosen,
            }
            _set(model, t_min=chosen)
            print(f"diffusion t_min: {row['t_min']}", flush=True)
        _tight(model)
        tight, tight_s = _bpd(model, x, dims, seed=1)
        candidates = []
        for steps in GRID_STEPS:
            for spacing in GRID_SPACINGS:
                _set(model, solver="rk4", steps=steps, spacing=spacing)
                got, sec = _bpd(model, x, dims, seed=1)  # the same probes and draws
                d = got - tight
                candidates.append(
                    {
                        "solver": "rk4",
                        "steps": steps,
                        "spacing": spacing,
                        "nfe": 4 * steps,
                        "bias": float(d.mean()),
                        "bias_se": _se(d),
                        "seconds_per_image": sec / len(x),
                    }
                )
                c = candidates[-1]
                print(
                    f"{family} rk4 {steps:2d} steps spacing {spacing}: bias "
                    f"{c['bias']:+.4f} +- {c['bias_se']:.4f}",
                    flush=True,
                )
        ok = [c for c in candidates if abs(c["bias"]) + 2 * c["bias_se"] <= BIAS_LIMIT]
        pick = min(ok or candidates, key=lambda c: (c["nfe"], abs(c["bias"])))
        row |= {
            "tight": f"dopri5 at tolerance {TIGHT}",
            "tight_seconds_per_image": tight_s / len(x),
            "rule": f"fewest NFE with |bias| + 2 SE <= {BIAS_LIMIT} bits/dim, then smallest |bias|",
            "candidates": candidates,
            "chosen": {k: pick[k] for k in ("solver", "steps", "spacing")},
            "met_limit": bool(ok),
        }
        rows[family] = row
    res["grid"] = rows


def bpd(args: argparse.Namespace, res: dict) -> None:
    """The chosen estimator on the test split (all of it unless --bpd-images), its
    bias against a tight solve and the gain of K = 4 draws, each on a paired subset."""
    rows = {}
    for family in ("flowmatch", "diffusion"):
        model, dims, data = _model(family)
        chosen = res["grid"][family]
        keys = dict(chosen["chosen"])
        if "t_min" in chosen:
            keys["t_min"] = chosen["t_min"]["chosen"]
        _set(model, **keys)
        g = torch.Generator().manual_seed(0)
        test = data.test.x
        x = test[torch.randperm(len(test), generator=g)[: args.bpd_images or len(test)]]
        full, seconds = _bpd(model, x, dims, seed=0, what=f"{family} test")
        statement = estimator_of(model)
        k = args.bias_images
        again, _ = _bpd(model, x[:k], dims, seed=1)
        fixed = dict(keys)
        _tight(model)
        tight, tight_s = _bpd(model, x[:k], dims, seed=1)  # same probes and draws
        diff = again - tight
        _set(model, **fixed)
        m = args.draws_images
        _set(model, draws=DRAWS)
        many, many_s = _bpd(model, x[:m], dims, seed=2)
        gain = many - full[:m]
        rows[family] = {
            "images": len(x),
            "bpd": float(full.mean()),
            "bpd_se": _se(full),
            "seconds": seconds,
            "seconds_per_image": seconds / len(x),
            "test_split_minutes": seconds / len(x) * len(test) / 60,
            "estimator": statement,
            "bias_images": k,
            "bias_vs_tight": float(diff.mean()),
            "bias_se": _se(diff),
            "tight": f"dopri5 at tolerance {TIGHT}",
            "tight_seconds_per_image": tight_s / k,
            "draws": {
                "K": DRAWS,
                "images": m,
                "bpd": float(many.mean()),
                "minus_K1": float(gain.mean()),
                "minus_K1_se": _se(gain),
                "seconds_per_image": many_s / m,
            },
        }
        r = rows[family]
        print(
            f"{family:9s} ODE bpd {r['bpd']:.4f} +- {r['bpd_se']:.4f} on {len(x)} images "
            f"({r['seconds'] / 60:.1f} min), bias {r['bias_vs_tight']:+.4f} +- "
            f"{r['bias_se']:.4f}, K={DRAWS} minus K=1 {gain.mean():+.4f} +- {_se(gain):.4f}",
            flush=True,
        )
    whole = not args.bpd_images
    res["bpd"] = rows | {
        "protocol": "the whole test split"
        if whole
        else f"seeded subset of {args.bpd_images} test images (seed 0)"
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="train,samples,grid,bpd")
    p.add_argument("--minutes", type=float, default=0.0, help="0: the diffusion run's steps")
    p.add_argument("--bpd-images", type=int, default=0, help="0: the whole test split")
    p.add_argument("--bias-images", type=int, default=50)
    p.add_argument("--grid-images", type=int, default=40)
    p.add_argument("--draws-images", type=int, default=200)
    args = p.parse_args()
    found, where = dataset_available(DATA)
    if not found:
        print(f"{DATA} not found ({where}); skipped")
        return
    torch.set_num_threads(1)
    res = load()
    parts = args.only.split(",")
    for name, fn in (
        ("train", lambda: train(args, res)),
        ("samples", lambda: samples(res)),
        ("grid", lambda: grid(args, res)),
        ("bpd", lambda: bpd(args, res)),
    ):
        if name in parts:
            fn()
            save(res)


if __name__ == "__main__":
    main()
