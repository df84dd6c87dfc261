"""The issue's reference flows timed on this machine, same protocol as flow_speed.py.

A public flow library (normflows) in a separate throwaway environment, never a genlab
dependency and never imported by the tests:

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch==2.13.0 normflows
    python benchmarks/flow_speed.py --save-batch /tmp/genlab_digits_batch.pt
    OMP_NUM_THREADS=1 taskset -c 0 /tmp/refvenv/bin/python benchmarks/flow_speed_reference.py \
        --out benchmarks/results/flow_speed_reference.json

Digits (1, 8, 8) with 17 levels, batch 128, one thread, median of repeats. Both models
see what genlab's ``nll`` sees: uniform dequantization and the logit with alpha=0.01,
done in the timed function. Training: forward KL (mean -log p), backward, the same
fused AdamW as genlab's trainer.

- RealNVP (0.73M): 8 x (random permutation, ActNorm, affine coupling whose conditioner
  is an MLP 32-256-256-64), on the flattened image: genlab's realnvp preset, layer for
  layer, without dropout.
- Glow (0.43M): normflows' multi-scale Glow example at L=2 levels, K=8 GlowBlocks per
  level (conv 3x3 -> 1x1 -> 3x3, 128 hidden channels, LU 1x1 convs, ActNorm).

Prints one line per model; ``--out`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import normflows as nf
import numpy as np
import torch
from common import median_time  # standard library only: imports in the reference venv

LEVELS, ALPHA, SHAPE = 17, 0.01, (1, 8, 8)


def digits_batch(n: int, path: str) -> torch.Tensor:
    """(n, 1, 8, 8) integer levels 0..16: digits saved by flow_speed.py --save-batch
    (this environment has no genlab), else random levels (the time is the same)."""
    if path and Path(path).exists():
        return torch.load(path)[:n]
    return torch.randint(0, LEVELS, (n, *SHAPE), generator=torch.Generator().manual_seed(0))


def model_space(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform dequantization and logit, as genlab's nll; (z0, logdet - D log L)."""
    y = (k.float() + torch.rand(k.shape)) / LEVELS
    p = ALPHA + (1 - 2 * ALPHA) * y
    z0 = torch.log(p) - torch.log1p(-p)
    d = math.prod(k.shape[1:])
    logdet = d * math.log1p(-2 * ALPHA) - (torch.log(p) + torch.log1p(-p)).flatten(1).sum(1)
    return z0, logdet - d * math.log(LEVELS)


def realnvp() -> tuple[nf.NormalizingFlow, bool]:
    torch.manual_seed(0)
    flows = []
    for _ in range(8):
        net = nf.nets.MLP([32, 256, 256, 64], init_zeros=True)
        flows += [
            nf.flows.AffineCouplingBlock(net),
            nf.flows.ActNorm(64),
            nf.flows.Permute(64, mode="shuffle"),
        ]
    return nf.NormalizingFlow(nf.distributions.DiagGaussian(64, trainable=False), flows), True


def glow(levels: int = 2, blocks: int = 8, hidden: int = 128) -> tuple[nf.MultiscaleFlow, bool]:
    torch.manual_seed(0)
    c, h, w = SHAPE
    q0, merges, flows = [], [], []
    for i in range(levels):
        level = [
            nf.flows.GlowBlock(c * 2 ** (levels + 1 - i), hidden, split_mode="channel", scale=True)
            for _ in range(blocks)
        ]
        flows.append([*level, nf.flows.Squeeze()])
        if i > 0:
            merges.append(nf.flows.Merge())
            latent = (c * 2 ** (levels - i), h // 2 ** (levels - i), w // 2 ** (levels - i))
        else:
            latent = (c * 2 ** (levels + 1), h // 2**levels, w // 2**levels)
        q0.append(nf.distributions.DiagGaussian(latent, trainable=False))
    return nf.MultiscaleFlow(q0, flows, merges, class_cond=False), False


def measure(name: str, model: torch.nn.Module, flat: bool, x: torch.Tensor, repeats: int) -> dict:
    def nll() -> torch.Tensor:
        z0, pre = model_space(x)
        log_p = model.log_prob(z0.flatten(1)) if flat else model.log_prob(z0, None)
        return -(log_p + pre)

    with torch.no_grad():  # data-dependent ActNorm initialisation on the batch
        nll()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)

    def train_step() -> None:
        loss = nll().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    train = len(x) / median_time(train_step, repeats)
    model.eval()
    with torch.inference_mode():
        score = len(x) / median_time(nll, repeats)
        sample = len(x) / median_time(lambda: model.sample(len(x)), repeats)
    return {
        "params": int(sum(np.prod(p.shape) for p in params)),
        "train_images_per_s": train,
        "nll_images_per_s": score,
        "sample_images_per_s": sample,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default="")
    p.add_argument("--batch-file", default="/tmp/genlab_digits_batch.pt")
    args = p.parse_args()
    torch.set_num_threads(1)
    x = digits_batch(args.batch, args.batch_file)
    rows = {}
    for name, build in (("realnvp", realnvp), ("glow", glow)):
        model, flat = build()
        rows[name] = r = measure(name, model, flat, x, args.repeats)
        print(
            f"normflows {name:8s} {r['params'] / 1e6:5.2f}M params"
            f"  train {r['train_images_per_s']:8,.0f}  nll {r['nll_images_per_s']:8,.0f}"
            f"  sample {r['sample_images_per_s']:8,.0f} img/s"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
