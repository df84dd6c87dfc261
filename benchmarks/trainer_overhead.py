"""Trainer overhead: genlab's loop against a bare hand-written AdamW loop.

Same model (an MLP over digits pixels with a categorical output per pixel), same
batch size, same number of steps, same process and threads; the ratio of images/s
(bare / genlab) measures what the trainer's extras cost per step (EMA, gradient
clipping, the non-finite guard, logging, batch gathering). Reported, not asserted.

    python benchmarks/trainer_overhead.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from genlab.config import TrainConfig
from genlab.data import load_dataset
from genlab.data.scaling import to_centered
from genlab.train import RunFolder, Trainer


class MLP(nn.Module):
    def __init__(self, dims: int = 64, levels: int = 17, hidden: int = 512) -> None:
        super().__init__()
        self.dims, self.levels = dims, levels
        self.net = nn.Sequential(
            nn.Linear(dims, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, dims * levels),
        )

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None):
        k = x.long().flatten(1)
        logits = self.net(to_centered(x, self.levels).flatten(1) * 0.5).view(
            -1, self.dims, self.levels
        )
        ce = nn.functional.cross_entropy(logits.transpose(1, 2), k)
        return ce, {"ce": ce.detach()}


def bare(model: nn.Module, x: torch.Tensor, steps: int, batch: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=g)
        loss, _ = model.loss(x[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def genlab_loop(model: nn.Module, ds, steps: int, batch: int) -> float:
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch,
        progress=False,
        val_fraction=0.0,
        sample_every=0,
        ckpt_every=10**9,
        log_every=50,
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, ds, cfg, RunFolder(tmp), device=torch.device("cpu"))
        t = time.perf_counter()
        trainer.fit()
        return steps * batch / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "trainer_overhead.json")
    )
    args = p.parse_args()
    ds = load_dataset("digits")
    torch.manual_seed(0)
    rows = []
    for _rep in range(3):  # alternate to spread machine noise over both
        rows.append(
            {
                "bare": bare(MLP(), ds.train.x, args.steps, args.batch),
                "genlab": genlab_loop(MLP(), ds, args.steps, args.batch),
            }
        )
    bare_best = max(r["bare"] for r in rows)
    ours_best = max(r["genlab"] for r in rows)
    result = {
        "steps": args.steps,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "bare_images_per_s": bare_best,
        "genlab_images_per_s": ours_best,
        "overhead_ratio": bare_best / ours_best,
        "runs": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"bare loop {bare_best:,.0f} img/s, genlab trainer {ours_best:,.0f} img/s, "
        f"ratio {bare_best / ours_best:.3f} (best of 3, {torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
