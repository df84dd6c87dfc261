"""Cost and precision of the diffusion bound on Fashion-MNIST (1x28x28, 256 levels), CPU,
one thread; and whether the cheap validation score ranks checkpoints like the bound.

1. ``train``: a default diffusion model, ``--steps`` (300) steps with
   ``genlab.train_run`` (or ``--run RUN``, an existing run folder: then no ranking), its
   EMA weights kept every ``--every`` steps along the way.
2. ``bound``: ``model.nll`` over the whole test split (10,000 images; ``--images`` fewer and
   the time extrapolated, said so in the result) in batches of 500: bits/dim, the standard
   error across images (std of the per-image bound / sqrt(N), test-set sampling and Monte
   Carlo noise together), the Monte Carlo standard error alone (from a second draw on
   ``--repeat`` images: Var_MC per image = mean (a - b)^2 / 2), seconds, images/s.
3. ``ranking``: the training run holds out ``1000 + --reference`` train images
   (``train.val_fraction``, seeded by ``train.seed``; the trainer's ``split_validation``)
   and every kept checkpoint is scored on them only, never on the test split: by
   ``validation_nll`` on the first 1000 held-out images with the noise seeded as the
   trainer does (torch.manual_seed(train.seed)), and by ``nll`` on the other
   ``--reference`` (2000); Spearman's rank correlation.

Skips (exit 0) when Fashion-MNIST is absent. Slow: training (~10 min for 300 steps), the
bound (~10 min) and the ranking (~2.5 min a checkpoint) on a quiet machine.

    python benchmarks/diffusion_bound.py [--steps 300] [--every 50] [--run RUN] [--images N]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from genlab.config import RunConfig
from genlab.data import LoadOptions, dataset_available, load_dataset
from genlab.runs import load, make_config, train_run
from genlab.train.validation import split_validation

DATA = "fashion-mnist"
BATCH = 500
VALIDATION_IMAGES = 1000  # the first held-out images, scored as the trainer validates


def per_image_bpd(model: torch.nn.Module, x: torch.Tensor, score: str, what: str) -> torch.Tensor:
    """``model.<score>`` of every image in bits/dim (N,), with a progress line per batch."""
    dims_ln2 = x[0].numel() * math.log(2.0)
    fn = getattr(model, score)
    parts, started = [], time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            parts.append(fn(x[i : i + BATCH]).double() / dims_ln2)
            done, spent = i + len(parts[-1]), time.perf_counter() - started
            eta = spent / done * (len(x) - done)
            print(
                f"  {what}: {done}/{len(x)} images, {done / spent:.1f}/s, ETA {eta:.0f} s",
                flush=True,
            )
    return torch.cat(parts)


def run_config(steps: int, every: int, data_dir: str, held_out: int) -> RunConfig:
    """The default config, ``steps`` steps, a checkpoint every ``every``, ``held_out`` train
    images held out (the ranking's; the weights stay the last EMA ones)."""
    n_train = len(load_dataset(DATA, LoadOptions(data_dir=data_dir)).train)
    overrides = {
        "data.name": DATA,
        "data.data_dir": data_dir,
        "train.steps": steps,
        "train.ckpt_every": every,
        "train.progress": False,
        "train.val_fraction": held_out / n_train,
        "train.val_max": held_out,
    }
    return make_config("diffusion", overrides=overrides)


def train(out: Path, cfg: RunConfig, every: int) -> dict[int, dict]:
    """Train ``cfg`` into ``out``; the EMA weights every ``every`` steps."""
    steps = cfg.train.steps
    kept: dict[int, dict] = {}

    def keep(step: int, terms: dict) -> None:  # runs right after the step's checkpoint
        if step % every == 0:
            kept[step] = load(out, weights="ema").state_dict()
            print(f"  train: step {step}/{steps}, kept the EMA weights", flush=True)

    train_run(cfg, out, force=True, callbacks=[keep])
    return kept


def bound(model: torch.nn.Module, x: torch.Tensor, repeat: int, total: int) -> dict:
    torch.manual_seed(0)
    started = time.perf_counter()
    bpd = per_image_bpd(model, x, "nll", "bound")
    seconds = time.perf_counter() - started
    torch.manual_seed(1)
    again = per_image_bpd(model, x[:repeat], "nll", "second draw")
    mc_var = float(((bpd[:repeat] - again) ** 2).mean() / 2)  # per image, bits/dim^2
    return {
        "images": len(x),
        "bits_per_dim": float(bpd.mean()),
        "stderr_across_images": float(bpd.std() / len(x) ** 0.5),
        "sd_across_images": float(bpd.std()),
        "mc_sd_per_image": mc_var**0.5,
        "mc_stderr": (mc_var / len(x)) ** 0.5,
        "seconds": seconds,
        "images_per_s": len(x) / seconds,
        "seconds_for_test_split": seconds * total / len(x),
        "extrapolated": len(x) < total,
    }


def ranking(model: torch.nn.Module, kept: dict[int, dict], held_out: torch.Tensor) -> dict:
    """Each checkpoint's ``validation_nll`` on the first 1000 held-out train images and
    ``nll`` on the rest of them; Spearman's rank correlation of the two."""
    rows = []
    for step, state in sorted(kept.items()):
        model.load_state_dict(state)
        torch.manual_seed(0)  # the trainer's (train.seed): the same noise at every validation
        started = time.perf_counter()
        val_x = held_out[:VALIDATION_IMAGES]
        val = float(per_image_bpd(model, val_x, "validation_nll", f"validation {step}").mean())
        val_s = time.perf_counter() - started
        torch.manual_seed(1)
        ref = per_image_bpd(model, held_out[VALIDATION_IMAGES:], "nll", f"reference {step}")
        rows.append(
            {
                "step": step,
                "validation_bpd": val,
                "validation_seconds": val_s,
                "bound_bpd": float(ref.mean()),
                "bound_stderr": float(ref.std() / len(ref) ** 0.5),
            }
        )
        print(f"  step {step}: validation {val:.4f}, bound {rows[-1]['bound_bpd']:.4f}", flush=True)
    rho = spearmanr([r["validation_bpd"] for r in rows], [r["bound_bpd"] for r in rows])
    return {
        "data": f"held-out train images: {VALIDATION_IMAGES} validation, "
        f"{len(held_out) - VALIDATION_IMAGES} reference",
        "checkpoints": rows,
        "spearman": float(rho.statistic),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default=None, help="an existing diffusion run on fashion-mnist")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=50, help="keep the EMA weights every N steps")
    p.add_argument("--workdir", default="runs/bench-diffusion-bound")
    p.add_argument("--images", type=int, default=10000, help="test images timed")
    p.add_argument("--repeat", type=int, default=1000, help="images drawn twice (MC error)")
    p.add_argument("--reference", type=int, default=2000, help="held-out images of the bound")
    p.add_argument("--data-dir", default="/usr/share/datasets")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / f"{Path(__file__).stem}.json")
    )
    args = p.parse_args()
    opts = LoadOptions(data_dir=args.data_dir)
    found, where = dataset_available(DATA, opts)
    if not found:
        print(f"skipped: {where}")
        return
    torch.set_num_threads(1)
    test = load_dataset(DATA, opts).test.x
    kept: dict[int, dict] = {}
    run = Path(args.run) if args.run else Path(args.workdir) / "default"
    held_out: torch.Tensor | None = None
    if args.run is None:
        print(f"training {args.steps} steps into {run}", flush=True)
        cfg = run_config(args.steps, args.every, args.data_dir, VALIDATION_IMAGES + args.reference)
        kept = train(run, cfg, args.every)
        _, part = split_validation(load_dataset(DATA, opts).train, cfg.train)
        assert part is not None and len(part) == VALIDATION_IMAGES + args.reference, cfg.train
        held_out = part.x
    model = load(run, weights="ema")
    result = {
        "protocol": f"{DATA} test split, CPU, one thread, batches of {BATCH}, on a machine "
        "shared with other jobs (times pessimistic)",
        "run": str(run),
        "estimator": model.nll_estimator(),
        "bound": bound(model, test[: args.images], args.repeat, len(test)),
    }
    print(json.dumps(result["bound"], indent=1), flush=True)
    if kept and held_out is not None:
        result["ranking"] = ranking(model, kept, held_out)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
