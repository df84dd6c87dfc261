"""Diffusion speed on digits, CPU, one thread: training images/s at batch 128, sampling
images/s per sampler and step count (1000 images), and the sampling overhead outside the
network calls at 20 steps (issue target: under 10% of sampling time).

For scale (issue): a public library's 1.0M-parameter U-Net trains at ~630-715 images/s
at batch 128 on digits, and samples 1000 images with 20 solver steps in ~10 s.

    python benchmarks/diffusion_speed.py [--n 1000] [--steps 10,20,50]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import median_time, train_step

from genlab.config import TrainConfig
from genlab.data import load_dataset
from genlab.runs import build_model, make_config
from genlab.train.optim import make_optimizer


def train_rate(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    opt = make_optimizer(model, TrainConfig(lr=1e-4))
    model.train()
    return len(x) / median_time(train_step(model, opt, x), repeats, warmup=3)


class TimedNetwork(torch.nn.Module):
    """Wraps the network and adds up the time spent inside its calls."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.seconds, self.calls = net, 0.0, 0

    def forward(self, *args: torch.Tensor | None) -> torch.Tensor:
        t = time.perf_counter()
        out = self.net(*args)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


def sample_rate(model: torch.nn.Module, sampler: str, steps: int, n: int) -> dict[str, float]:
    timed = TimedNetwork(model.network)
    model.network = timed
    try:
        g = torch.Generator().manual_seed(0)
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(n, sampler=sampler, steps=steps, generator=g)
        total = time.perf_counter() - t
    finally:
        model.network = timed.net
    return {
        "images_per_s": n / total,
        "seconds": total,
        "network_calls": timed.calls,
        "overhead_fraction": (total - timed.seconds) / total,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--steps", default="10,20,50")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "diffusion_speed.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ds = load_dataset("digits")
    model = build_model(make_config("diffusion"), ds.meta)
    params = sum(p.numel() for p in model.parameters())
    train = train_rate(model, ds.train.x[:128], args.repeats)
    print(f"diffusion {params / 1e6:.2f}M params  train {train:,.0f} img/s (batch 128)", flush=True)
    model.eval()
    sampling = {}
    plan = [("oneshot", 1)] + [
        (s, int(k)) for s in ("ddpm", "ddim", "dpmpp") for k in args.steps.split(",")
    ]
    for sampler, k in plan:
        r = sample_rate(model, sampler, k, args.n)
        sampling[f"{sampler}:{k}"] = r
        print(
            f"{sampler:8s} {k:4d} steps  {r['images_per_s']:8,.0f} img/s  "
            f"{r['seconds']:6.1f} s for {args.n}  overhead {100 * r['overhead_fraction']:.1f}%",
            flush=True,
        )
    result = {
        "protocol": f"digits, CPU, 1 thread; train: batch 128, median of {args.repeats} steps; "
        f"sampling: {args.n} images in one batch, inference_mode",
        "params": params,
        "train_images_per_s": train,
        "reference": {"train_images_per_s": [630, 715], "sample_1000_dpmpp20_s": 10.0},
        "sampling": sampling,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
