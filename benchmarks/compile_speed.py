"""Does ``train.compile=true`` pay on this CPU? torch.compile against eager, per family.

For each family's default model at a shape (built as ``genlab train`` builds it, see
speed.py), one process, ``--threads`` (default 1), the family's training batch unless
``--batch``, random inputs of the data's shape:

- ``eager_step_s``: median seconds of a training step (loss, backward, fused AdamW);
- ``compile_s``: seconds of the first compiled step (tracing and code generation),
  minus one compiled step;
- ``compiled_step_s``: median seconds of a compiled step afterwards (eager and compiled
  steps interleaved within each repeat);
- ``graph_breaks``: torch._dynamo's count for the loss, 0 when the whole loss is one graph;
- ``break_even_steps``: steps after which the compiled run has caught up with the
  eager one, ``compile_s / (eager - compiled)``, or null where compiled is not faster.

As the trainer does, the compiled function is the model's ``loss`` (backward and the
optimizer stay eager, AOTAutograd compiles the backward graph).

    python benchmarks/compile_speed.py [--only diffusion,flow-glow] [--shape 1x28x28]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from peers import random_images
from speed import LEVELS, SHAPES, genlab_model

HERE = Path(__file__).parent
OUT = HERE / "results" / "compile_speed.json"

# row -> (family, overrides)
ROWS: dict[str, tuple[str, dict[str, str]]] = {
    "diffusion": ("diffusion", {}),
    "flow-realnvp": ("flow", {"model.preset": "realnvp"}),
    "flow-glow": ("flow", {"model.preset": "glow"}),
    "vae-conv": ("vae", {"model.network": "conv"}),
    "simclr": ("simclr", {}),
}


def make_step(loss: Callable[[], torch.Tensor], params: list[torch.Tensor]) -> Callable[[], None]:
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    return step


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(row: str, shape_key: str, batch: int | None, repeats: int) -> dict:
    family, overrides = ROWS[row]
    shape = SHAPES[shape_key]
    model, cfg = genlab_model(family, shape, overrides)
    n = batch or cfg.train.batch_size
    x = random_images(n, shape.shape, LEVELS)
    y = torch.zeros(n, dtype=torch.long)
    if family == "flow":
        model.prepare(x)  # data-dependent ActNorm initialisation, as the trainer does
    model.train()

    def loss_of(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return model.loss(xb, yb)[0]

    torch.manual_seed(0)
    explained = torch._dynamo.explain(loss_of)(x, y)
    breaks = int(explained.graph_break_count)
    torch._dynamo.reset()
    compiled_loss = torch.compile(loss_of)
    params = [p for p in model.parameters() if p.requires_grad]
    eager = make_step(lambda: loss_of(x, y), params)
    compiled = make_step(lambda: compiled_loss(x, y), params)
    eager()  # warm-up: allocator, oneDNN primitives
    first = timed(compiled)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    compiled()
    for _ in range(repeats):
        times["eager"].append(timed(eager))
        times["compiled"].append(timed(compiled))
    e, c = (statistics.median(times[k]) for k in ("eager", "compiled"))
    compile_s = max(0.0, first - c)
    return {
        "row": row,
        "shape": shape_key,
        "batch": n,
        "eager_step_s": e,
        "compiled_step_s": c,
        "speedup": e / c,
        "compile_s": compile_s,
        "graph_breaks": breaks,
        "break_even_steps": compile_s / (e - c) if c < e else None,
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated rows (default: all)")
    parser.add_argument("--shape", default="1x28x28", choices=sorted(SHAPES))
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rows = [r for r in args.only.split(",") if r] or list(ROWS)
    results = []
    for row in rows:
        rec = measure(row, args.shape, args.batch, args.repeats)
        results.append(rec)
        even = rec["break_even_steps"]
        print(
            f"{row:14s} {args.shape} batch {rec['batch']}: eager {rec['eager_step_s']:.3f} s, "
            f"compiled {rec['compiled_step_s']:.3f} s (x{rec['speedup']:.2f}), compile "
            f"{rec['compile_s']:.0f} s, {rec['graph_breaks']} graph breaks, pays after "
            f"{'never' if even is None else f'{even:.0f} steps'}",
            flush=True,
        )
    out = {
        "protocol": __doc__,
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.machine(),
        "rows": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
