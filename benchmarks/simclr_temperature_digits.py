"""SimCLR's temperature on digits, chosen on validation: each temperature trains the
default SimCLR run (``genlab.train_run``, one thread, nothing else changed), and its
frozen embeddings are probed without reading the test split:

- ``held_out``: a linear probe and a 5-NN vote fitted on the run's training part of train,
  scored on the part it held out (``train.val_fraction``, seeded by ``train.seed``; the
  encoder never trained on those images), with the binomial standard error;
- ``probe_cv``: the linear probe's own cross-validated accuracy over the training part
  (``ProbeResult.cv_accuracy``).

Results go to results/simclr_temperature_digits.json; a difference within about two
standard errors is noise, and then the earlier default stays. About 5 CPU minutes a run
(2000 steps) on one thread.

    python benchmarks/simclr_temperature_digits.py [--temperatures 0.5,0.2] [--seeds 0]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from genlab.metrics.embedding import embed_all
from genlab.metrics.probe import knn_accuracy, linear_probe
from genlab.runs import load_data, load_run, make_config, train_run
from genlab.train.validation import split_validation

RESULTS = Path(__file__).parent / "results" / "simclr_temperature_digits.json"


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def one_run(temperature: float, seed: int, steps: int | None, out: Path) -> dict:
    """Train one SimCLR run at ``temperature``; its probes on the held-out part of train."""
    overrides = {
        "data.name": "digits",
        "model.temperature": temperature,
        "train.seed": seed,
        "train.threads": 1,
        "train.progress": False,
    }
    if steps is not None:
        overrides["train.steps"] = steps
    cfg = make_config("simclr", overrides=overrides)
    started = time.process_time()
    train_run(cfg, out, force=True)
    cpu = time.process_time() - started
    model = load_run(out).model
    rest, val = split_validation(load_data(cfg.data).train, cfg.train)
    assert val is not None and rest.y is not None and val.y is not None
    emb_rest, emb_val = embed_all(model, rest.x), embed_all(model, val.x)
    probe = linear_probe(emb_rest, rest.y, emb_val, val.y)
    knn = knn_accuracy(emb_rest, rest.y, emb_val, val.y, k=5)
    return {
        "temperature": temperature,
        "seed": seed,
        "steps": cfg.train.steps,
        "train_cpu_seconds": cpu,
        "held_out": {
            "images": len(val),
            "linear": probe.accuracy,
            "linear_se": binomial_se(probe.accuracy, len(val)),
            "knn5": knn,
            "knn5_se": binomial_se(knn, len(val)),
        },
        "probe_cv": {"images": len(rest), "accuracy": probe.cv_accuracy, "C": probe.C},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--temperatures", default="0.5,0.2")
    p.add_argument("--seeds", default="0")
    p.add_argument("--steps", type=int, default=None, help="training steps (family default)")
    p.add_argument("--workdir", default="runs/bench-simclr-temperature")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for t in (float(v) for v in args.temperatures.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            row = one_run(t, seed, args.steps, Path(args.workdir) / f"t{t}-s{seed}")
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {
        "protocol": "digits, genlab train simclr defaults but model.temperature and "
        "train.seed; one CPU thread; probes fitted on the run's training part of train and "
        "scored on its held-out part (train.val_fraction, seeded); the test split is not read",
        "runs": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
