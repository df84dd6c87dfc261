"""Self-supervised encoders on Fashion-MNIST (1x28x28) at equal CPU time, judged on
training data only: which backbone and augmentations the large-image defaults use.

For each candidate (encoder options, batch size, augmentations) the family's model is
trained in this process (one thread, AdamW at the family's learning rate and weight
decay, linear warm-up then cosine decay) for ``--budget`` seconds of training on the
first 54,000 training images; then a linear probe (logistic regression, C chosen by
3-fold cross-validation) is fitted on the embeddings of 10% of those images' labels
(5,400) and scored on the 6,000 held-out training images. The test split is never
touched: the choice made here cannot leak into the test numbers of fashion_quality.py.
Raw pixels under the same protocol are the baseline. Results go to
results/ssl_defaults_fashion.json.

    python benchmarks/ssl_defaults_fashion.py [--family simclr] [--budget 300] [--only 0,2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from genlab.data import dataset_available, load_dataset
from genlab.data.augment import AugmentConfig, default_augment
from genlab.family import get_family
from genlab.runs import make_config

DATA = "fashion-mnist"
HELD_OUT = 6000
# the augmentations used before a Fashion-MNIST branch existed (MNIST-like handwriting)
HANDWRITING = AugmentConfig(
    crop_scale=(0.6, 1.0), crop_ratio=(0.8, 1.25), rotate_degrees=15.0, translate=0.1,
    shear_degrees=10.0, noise_std=0.03,
)  # fmt: skip
CLOTHES = default_augment("fashion-mnist")
# family -> name -> (model overrides, batch size (0: the family's), augmentations (None: the
# dataset's default))
Candidate = tuple[dict[str, object], int, AugmentConfig | None]
CANDIDATES: dict[str, dict[str, Candidate]] = {
    "simclr": {
        "stem 1, 32ch, handwriting aug": ({"model.stem": 1}, 0, HANDWRITING),
        "stem 2, 32ch, handwriting aug": ({"model.stem": 2}, 0, HANDWRITING),
        "stem 2, 32ch, clothes aug": ({"model.stem": 2}, 0, CLOTHES),
        "stem 2, 64ch, clothes aug": ({"model.stem": 2, "model.channels": 64}, 0, CLOTHES),
        "stem 2, 32ch, clothes aug, batch 128": ({"model.stem": 2}, 128, CLOTHES),
        "stem 2, 32ch, 2 blocks, clothes aug": ({"model.stem": 2, "model.blocks": 2}, 0, CLOTHES),
        "stem 1, 32ch, clothes aug": ({"model.stem": 1}, 0, CLOTHES),
        "stem 1, 32ch, embed 512, clothes aug": (
            {"model.stem": 1, "model.embed_dim": 512},
            0,
            CLOTHES,
        ),
        "stem 2, 32ch, embed 512, clothes aug": (
            {"model.stem": 2, "model.embed_dim": 512},
            0,
            CLOTHES,
        ),
        "stem 2, 64ch, embed 512, clothes aug": (
            {"model.stem": 2, "model.channels": 64, "model.embed_dim": 512},
            0,
            CLOTHES,
        ),
    },
    "rotation": {
        "stem 2, handwriting aug": ({"model.stem": 2}, 0, HANDWRITING),
        "stem 2, clothes aug": ({"model.stem": 2}, 0, CLOTHES),
    },
    "masked": {
        "stem 2, patch 2": ({"model.stem": 2, "model.patch": 2}, 0, CLOTHES),
        "stem 2, patch 4": ({"model.stem": 2, "model.patch": 4}, 0, CLOTHES),
    },
}


def probe_score(train_h, train_y, test_h, test_y) -> float:
    from genlab.metrics.probe import linear_probe

    return linear_probe(train_h, train_y, test_h, test_y).accuracy


@torch.no_grad()
def embed(model, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model.embed(x[i : i + batch]) for i in range(0, len(x), batch)])


def candidate(family: str, name: str, args, data) -> dict:
    overrides, batch, aug = CANDIDATES[family][name]
    cfg = make_config(family, overrides={"data.name": DATA, **overrides})
    batch = batch or cfg.train.batch_size
    torch.manual_seed(0)
    model = get_family(family).build(cfg.model, data.meta)
    if aug is not None:
        model.augment = aug  # every representation family reads its augmentations here
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    x_train = data.train.x[:-HELD_OUT]
    g = torch.Generator().manual_seed(0)
    # a first timed stretch sets the step count so the schedule ends at the budget
    steps, step, spent, started = 0, 0, 0.0, time.process_time()
    probe_steps = 20
    while args.budget > 0:  # 0: the untrained encoder, the control
        if step == probe_steps and not steps:
            rate = probe_steps / (time.process_time() - started)
            steps = max(probe_steps + 1, round(args.budget * rate))
        if steps and step >= steps:
            break
        total = steps or 10**9
        warm = min(cfg.train.warmup, total // 10)
        lr = cfg.train.lr * (
            (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * step / total))
        )
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        idx = torch.randint(len(x_train), (batch,), generator=g)
        loss, _ = model.loss(x_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        step += 1
    spent = time.process_time() - started
    labelled = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(1))
    labelled = labelled[: len(x_train) // 10]
    h_train = embed(model, x_train[labelled])
    h_held = embed(model, data.train.x[-HELD_OUT:])
    acc = probe_score(h_train, data.train.y[:-HELD_OUT][labelled], h_held, data.train.y[-HELD_OUT:])
    row = {
        "overrides": overrides,
        "batch_size": batch,
        "augment": None if aug is None else aug.__dict__,
        "params": params,
        "steps": steps,
        "images_seen": steps * batch,
        "train_cpu_seconds": spent,
        "images_per_cpu_s": steps * batch / max(spent, 1e-9),
        "probe_10pct_held_out": acc,
    }
    print(
        f"{name:42s} {params / 1e6:5.2f}M {row['images_per_cpu_s']:6.0f} img/s {steps:5d} steps"
        f"  probe(10%) {acc:.4f}",
        flush=True,
    )
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--family", default="simclr", choices=["simclr", "rotation", "masked"])
    p.add_argument("--budget", type=float, default=300.0, help="training CPU s per candidate")
    p.add_argument("--only", default="", help="comma-separated candidate numbers (0-based)")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "ssl_defaults_fashion.json")
    )
    args = p.parse_args()
    found, where = dataset_available(DATA)
    if not found:
        print(f"skipped: {where}")
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    data = load_dataset(DATA)
    names = list(CANDIDATES[args.family])
    if args.only:
        names = [names[int(i)] for i in args.only.split(",")]
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    if "raw_pixels" not in result:
        x = data.train.x.flatten(1).float() / 255.0
        labelled = torch.randperm(len(x) - HELD_OUT, generator=torch.Generator().manual_seed(1))
        labelled = labelled[: (len(x) - HELD_OUT) // 10]
        y = data.train.y
        raw = probe_score(x[labelled], y[labelled], x[-HELD_OUT:], y[-HELD_OUT:])
        result["raw_pixels"] = {"probe_10pct_held_out": raw}
        print(f"raw pixels: probe(10%) {raw:.4f}", flush=True)
    for n in names:
        row = candidate(args.family, n, args, data)
        result = json.loads(out.read_text()) if out.exists() else result
        result["protocol"] = (
            f"{DATA}, CPU, one thread; {args.budget:.0f} CPU s of training on train[:-{HELD_OUT}]; "
            f"linear probe on 10% of those labels, scored on train[-{HELD_OUT}:] (no test data)"
        )
        key = n if args.budget > 0 else f"{n}, untrained"
        result.setdefault(args.family, {})[key] = row
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
