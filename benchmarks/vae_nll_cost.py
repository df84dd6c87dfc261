"""The VAE's likelihood: what the test estimate costs, and which validation score picks
the same checkpoints as it, on Fashion-MNIST (1x28x28, 60,000 images) and digits.

1. ``speed``: ``nll`` images/s of the default VAE at K = 1, 10, 100, 1000 importance
   samples (one thread), and the validation's share of training time that each K would
   cost with the defaults (1000 held-out images every ``train.eval_every`` steps).
2. ``test``: ``genlab eval``'s estimate, K = 1000 on the whole test split: seconds,
   bits/dim and its standard error across images.
3. ``ranking``: a default run (the genlab trainer, nothing changed but the step count)
   keeps the weights it would validate at every ``eval_every`` steps; each checkpoint is
   scored on the trainer's validation images at K = 1, 10, 100 and on the test images
   at K = 1000. The choice of ``model.val_samples`` is made on validation only: per K,
   the Spearman rank correlation with the validation score at K = 100 (the tightest
   one), the checkpoint it selects and its mean gap above K = 100 (``validation``).
   The agreement with the test score at K = 1000 is recorded beside it to report, not
   to choose (``test``). Digits overfit (1437 images), so there the choice matters.

``--reanalyse`` recomputes the agreement from the checkpoints already recorded in
results/vae_nll_cost.json, without training.

Skips Fashion-MNIST when absent (``genlab fetch fashion-mnist``). About 20 minutes.

    python benchmarks/vae_nll_cost.py [--steps 3000] [--test-images 500]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from genlab.data import dataset_available, load_dataset
from genlab.metrics.likelihood import score_bits_per_dim
from genlab.runs import build_model, make_config
from genlab.train import Trainer
from genlab.train.validation import split_validation

RESULTS = Path(__file__).parent / "results" / "vae_nll_cost.json"
VAL_K = (1, 10, 100)
TEST_K = 1000


def bpd(model: torch.nn.Module, x: torch.Tensor, k: int, dims: int) -> tuple[float, float]:
    """(bits/dim at K = k on x with fixed noise, seconds)."""
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    total = 0.0
    for start in range(0, len(x), 500):
        total += float(model.nll(x[start : start + 500], k, generator=gen).sum())
    return total / (len(x) * dims * math.log(2.0)), time.perf_counter() - started


def agreement_of(rows: list[dict]) -> dict:
    """Per validation K: how it ranks the checkpoints against the validation score at the
    largest validation K (``validation``, what chooses K), and against the test score at
    K = 1000 (``test``, reported only)."""
    ref_k = max(VAL_K)
    ref = [r[f"val_k{ref_k}"] for r in rows]
    test = [r["test_k1000"] for r in rows]
    best = min(test)
    ref_step = rows[min(range(len(rows)), key=ref.__getitem__)]["step"]
    agreement = {}
    for k in VAL_K:
        vals = [r[f"val_k{k}"] for r in rows]
        chosen = min(range(len(rows)), key=vals.__getitem__)
        agreement[f"k{k}"] = {
            "validation": {
                "reference": f"validation K = {ref_k}",
                "spearman": float(spearmanr(vals, ref).statistic),
                "selected_step": rows[chosen]["step"],
                "reference_selected_step": ref_step,
                "mean_gap_bpd": sum(v - r for v, r in zip(vals, ref, strict=True)) / len(rows),
            },
            "test": {
                "spearman": float(spearmanr(vals, test).statistic),
                "regret_bpd": test[chosen] - best,
            },
            "seconds_per_validation": sum(r[f"val_k{k}_seconds"] for r in rows) / len(rows),
        }
    return agreement


def reanalyse() -> None:
    """Recompute every dataset's ``agreement`` from its recorded checkpoints."""
    out = json.loads(RESULTS.read_text())
    for name, block in out.items():
        if isinstance(block, dict) and "checkpoints" in block:
            block["agreement"] = agreement_of(block["checkpoints"])
            print(f"{name}: {json.dumps(block['agreement'])}")
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {RESULTS}")


def one_dataset(name: str, steps: int | None, test_images: int | None) -> dict:
    overrides = {"data.name": name, "train.progress": False}
    if steps is not None:
        overrides["train.steps"] = steps
    cfg = make_config("vae", overrides=overrides)
    ds = load_dataset(name)
    model = build_model(cfg, ds.meta)
    kept: list[tuple[int, dict[str, torch.Tensor]]] = []
    holder: list[Trainer] = []

    def keep(step: int, _terms: dict) -> None:
        if step % cfg.train.eval_every == 0 or step == cfg.train.steps:
            state = holder[0].eval_model.state_dict()
            kept.append((step, {k: v.detach().clone() for k, v in state.items()}))

    trainer = Trainer(model, ds, cfg.train, None, device=torch.device("cpu"), callbacks=[keep])
    holder.append(trainer)
    started = time.perf_counter()
    trainer.fit()
    train_s = trainer.train_seconds
    print(f"{name}: {trainer.step} steps in {time.perf_counter() - started:.0f} s", flush=True)
    _, val = split_validation(ds.train, cfg.train)
    assert val is not None
    test_x = ds.test.x[:test_images] if test_images else ds.test.x
    dims = ds.meta.dims
    scorer = build_model(cfg, ds.meta).eval()
    rows = []
    for step, state in kept:
        scorer.load_state_dict(state)
        row: dict = {"step": step}
        for k in VAL_K:
            row[f"val_k{k}"], row[f"val_k{k}_seconds"] = bpd(scorer, val.x, k, dims)
        row["test_k1000"], row["test_seconds"] = bpd(scorer, test_x, TEST_K, dims)
        rows.append(row)
        print(f"  step {step}: {json.dumps({k: round(v, 4) for k, v in row.items()})}", flush=True)
    agreement = agreement_of(rows)
    per_eval_train = train_s / trainer.step * cfg.train.eval_every
    speed = {}
    for k in (*VAL_K, TEST_K):
        n = min(len(test_x), max(50, 20_000 // k))
        _, seconds = bpd(scorer, test_x[:n], k, dims)
        speed[f"k{k}"] = {
            "images_per_s": n / seconds,
            "val_share": (len(val) / (n / seconds)) / (per_eval_train + len(val) / (n / seconds)),
        }
    return {
        "steps": trainer.step,
        "train_seconds": train_s,
        "eval_every": cfg.train.eval_every,
        "validation_images": len(val),
        "ranking_test_images": len(test_x),
        "best_test_step": min(rows, key=lambda r: r["test_k1000"])["step"],
        "checkpoints": rows,
        "agreement": agreement,
        "speed": speed,
        "scorer": scorer,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3000, help="Fashion-MNIST training steps")
    p.add_argument("--test-images", type=int, default=500, help="Fashion test images ranked")
    p.add_argument("--skip-full", action="store_true", help="no K=1000 on all 10,000 images")
    p.add_argument("--reanalyse", action="store_true", help="agreement from recorded results")
    args = p.parse_args()
    if args.reanalyse:
        reanalyse()
        return
    torch.set_num_threads(1)
    out: dict = {"protocol": {"threads": 1, "val_k": VAL_K, "test_k": TEST_K}}
    digits = one_dataset("digits", None, None)
    digits.pop("scorer")
    out["digits"] = digits
    ok, where = dataset_available("fashion-mnist")
    if not ok:
        print(f"fashion-mnist skipped: {where}")
    else:
        fashion = one_dataset("fashion-mnist", args.steps, args.test_images)
        scorer = fashion.pop("scorer")
        if not args.skip_full:
            ds = load_dataset("fashion-mnist")
            torch.manual_seed(0)
            score = score_bits_per_dim(scorer, ds.test.x, ds.meta, progress=True)
            fashion["test"] = {
                "K": TEST_K,
                "images": score.images,
                "bpd": score.bpd,
                "se": score.se,
                "seconds": score.seconds,
            }
            print(f"fashion full test: {fashion['test']}", flush=True)
        out["fashion-mnist"] = fashion
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
