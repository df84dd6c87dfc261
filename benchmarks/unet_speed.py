"""U-Net speed on digits-size inputs (1 x 8 x 8), CPU, one thread.

Trains the default ``UNet(1)`` with the simple eps-MSE loss of DDPM (Ho et al. 2020,
eq. 14): ``x0`` uniform in [-1, 1], ``t`` uniform in 1..1000, ``x_t = sqrt(abar) x0 +
sqrt(1 - abar) eps`` with the cosine ``abar`` of Nichol & Dhariwal 2021 (eq. 17) from
``genlab.diffusion.schedule``, AdamW(fused=True). Prints the parameter count, training
images/s at batch 128 (median step after warm-up) and forward-only images/s at batch
1000 in inference mode (the sampler's cost per denoising step). Reference, same machine
and protocol: a public library's 1.0M-parameter U-Net trains at ~630-715 images/s and
denoises ~2000 images/s (1000 images x 20 steps in ~10 s).

    python benchmarks/unet_speed.py [--steps 40] [--repeats 3] [--set multipliers=1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch
from common import median_time

from genlab.diffusion.schedule import cosine_alpha_bar
from genlab.nn.unet import UNet


def _median_time(fn, repeats: int, warmup: int) -> float:
    return median_time(fn, repeats, warmup=warmup)


def measure(kwargs: dict, steps: int, batch: int, eval_batch: int, size: int) -> dict:
    torch.manual_seed(0)
    model = UNet(1, **kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, fused=True)

    def train_step() -> None:
        x0 = torch.rand(batch, 1, size, size) * 2 - 1
        t = torch.randint(1, 1001, (batch,))
        abar = cosine_alpha_bar(t, 1000).float()[:, None, None, None]
        eps = torch.randn_like(x0)
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
        loss = (model(xt, t) - eps).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    train = batch / _median_time(train_step, steps, warmup=5)
    model.eval()
    x = torch.randn(eval_batch, 1, size, size)
    t = torch.full((eval_batch,), 500)
    with torch.inference_mode():
        infer = eval_batch / _median_time(lambda: model(x, t), 5, warmup=1)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "train_images_per_s": train, "infer_images_per_s": infer}


def _parse(sets: list[str]) -> dict:
    kwargs: dict = {}
    for item in sets:
        key, value = item.split("=")
        parsed = tuple(int(v) for v in value.split(",") if v) if "," in value else value
        if isinstance(parsed, str):
            parsed = float(parsed) if "." in parsed else int(parsed)
        kwargs[key] = parsed
    return kwargs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3, help="whole measurements; medians kept")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--size", type=int, default=8)
    p.add_argument("--set", action="append", default=[], help="UNet keyword, e.g. blocks=2")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "unet_speed.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    kwargs = _parse(args.set)
    runs = [
        measure(kwargs, args.steps, args.batch, args.eval_batch, args.size)
        for _ in range(args.repeats)
    ]
    result = {
        "unet_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
        "size": args.size,
        "batch": args.batch,
        "eval_batch": args.eval_batch,
        "threads": 1,
        "load_average_1min": os.getloadavg()[0],  # other work on the machine slows it
        "params": runs[0]["params"],
        "train_images_per_s": statistics.median(r["train_images_per_s"] for r in runs),
        "infer_images_per_s": statistics.median(r["infer_images_per_s"] for r in runs),
        "runs": runs,
    }
    print(
        f"params {result['params']:,}  train {result['train_images_per_s']:.0f} images/s "
        f"(batch {args.batch})  inference {result['infer_images_per_s']:.0f} images/s "
        f"(batch {args.eval_batch})  runs {[round(r['train_images_per_s']) for r in runs]}"
    )
    if not kwargs and args.size == 8:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
