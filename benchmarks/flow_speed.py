"""Flow speed on digits, CPU, one thread, batch 128: training, nll and sampling images/s.

For each preset at its default size: parameters, training images/s (forward, backward,
AdamW step), ``nll`` images/s (no grad, eval mode) and ``sample`` images/s. Reference
numbers quoted in the issue, same machine and protocol: a public library's RealNVP of
0.73M parameters trains at ~9,900 images/s and scores ~58,000 images/s; its Glow of
0.43M at ~1,800 and ~5,200.

    python benchmarks/flow_speed.py [--presets realnvp,glow,nsf] [--repeats 20]

The reference measured on the same machine: flow_speed_reference.py (normflows in its own
environment, fed the batch saved by ``--save-batch``) writes
results/flow_speed_reference.json, which is copied here under ``reference_measured``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import median_time, train_step

from genlab.config import TrainConfig
from genlab.data import load_dataset
from genlab.runs import build_model, make_config
from genlab.train.optim import make_optimizer

EQUAL_SIZE = {
    # the default realnvp is 0.73M already; the reference trains without dropout
    "realnvp": [("0.73M-no-dropout", {"model.dropout": "0"})],
    "glow": [("0.43M", {"model.channels": "36", "model.steps": "4"})],
}


def _rate(fn, n_images: int, repeats: int) -> float:
    return n_images / median_time(fn, repeats)  # images/s at the median time


def measure(preset: str, batch: int, repeats: int, overrides: dict[str, str]) -> dict[str, float]:
    ds = load_dataset("digits")
    cfg = make_config("flow", overrides={"model.preset": preset, **overrides})
    model = build_model(cfg, ds.meta)
    model.prepare(ds.train.x)
    opt = make_optimizer(model, TrainConfig(lr=1e-4))  # the trainer's AdamW
    x = ds.train.x[:batch]
    model.train()
    train = _rate(train_step(model, opt, x), batch, repeats)
    model.eval()
    with torch.inference_mode():  # as genlab eval and genlab sample run them
        nll = _rate(lambda: model.nll(x), batch, repeats)
        sample = _rate(lambda: model.sample(batch), batch, repeats)
    params = sum(p.numel() for p in model.parameters())
    return {
        "params": params,
        "train_images_per_s": train,
        "nll_images_per_s": nll,
        "sample_images_per_s": sample,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="realnvp,glow,nsf")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "flow_speed.json"))
    p.add_argument("--save-batch", default="", help="save the digits batch here and exit")
    args = p.parse_args()
    if args.save_batch:  # the exact batch, for flow_speed_reference.py
        torch.save(load_dataset("digits").train.x[: args.batch].clone(), args.save_batch)
        return
    torch.set_num_threads(1)
    rows = {}
    for preset in args.presets.split(","):
        rows[preset] = measure(preset, args.batch, args.repeats, {})
        for label, over in EQUAL_SIZE.get(preset, []):  # near the reference models' sizes
            rows[f"{preset}@{label}"] = measure(preset, args.batch, args.repeats, over)
    for name, r in rows.items():
        print(
            f"{name:14s} {r['params'] / 1e6:5.2f}M params  train {r['train_images_per_s']:8,.0f}"
            f"  nll {r['nll_images_per_s']:8,.0f}  sample {r['sample_images_per_s']:8,.0f} img/s"
        )
    result = {
        "protocol": "digits, CPU, 1 thread, batch 128, median of repeats, default sizes",
        "reference": {
            "realnvp_0.73M": {"train": 9900, "nll": 58000},
            "glow_0.43M": {"train": 1800, "nll": 5200},
        },
        "presets": rows,
    }
    measured = Path(__file__).parent / "results" / "flow_speed_reference.json"
    if measured.exists():
        result["reference_measured"] = json.loads(measured.read_text())
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
