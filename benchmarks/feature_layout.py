"""The feature network's layout, chosen on held-out train images (never on the test split).

The shipped feature CNN (genlab/metrics/features.py) flattens its last feature map,
average-pooled to at most 8x8 (``spatial``), rather than averaging it to one vector
(``global``): where a collar or a sleeve sits may tell Fashion-MNIST's classes apart.
This script compares the two layouts with the shipped training recipe on validation
images held out of the train split (seeded), never touching the test split:

* digits: 5 folds of the 1437 train images (each image validates once), so the
  accuracy covers all of train;
* Fashion-MNIST: one seeded tenth of train (6000 images), the network trained on the
  other 54,000 (3 epochs, the recipe's step count for that size).

Per validation image, correct or not under each layout: accuracy, its standard error,
and the paired difference spatial - global with its SE. The rule: the layout whose
validation accuracy is higher by more than two paired SE; within two SE the shipped
layout stays (the shipped weights are not retrained for a difference inside noise).

Fashion-MNIST is read from /usr/share/datasets/fashion-mnist and skipped when absent.
Slow: ~13 min per Fashion-MNIST layout on one quiet CPU thread, ~6 min for digits.

    OMP_NUM_THREADS=1 python benchmarks/feature_layout.py [--datasets digits fashion-mnist]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from genlab.data import LoadOptions, dataset_available, load_dataset
from genlab.data.dataset import Dataset, Split
from genlab.data.scaling import to_centered
from genlab.metrics.features import ARCH_VERSION, MAX_GRID, FeatureCNN, TrainRecipe, train_steps

OUT = Path(__file__).parent / "results" / "feature_layout.json"
LAYOUTS = {"spatial": MAX_GRID, "global": 1}  # max_grid of FeatureCNN
SHIPPED = "spatial"
FOLDS = {"digits": 5}  # other datasets: one held-out tenth
SEED = 0


def folds(train: Split, name: str) -> list[tuple[Split, Split]]:
    """(training part, validation part) pairs from ``train`` only."""
    k = FOLDS.get(name)
    if k is None:
        return [train.holdout(0.1, SEED)]
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))
    parts = perm.chunk(k)
    return [
        (
            train.take(torch.cat([p for j, p in enumerate(parts) if j != i]).sort().values),
            train.take(parts[i].sort().values),
        )
        for i in range(k)
    ]


def correct(net: FeatureCNN, split: Split, levels: int | None) -> torch.Tensor:
    """(N,) bool: each image of ``split`` classified correctly (eval mode)."""
    assert split.y is not None
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(to_centered(c, levels)).argmax(1) for c in split.x.cpu().split(1000)])
    return pred == split.y.cpu()


def train_layout(dataset: Dataset, layout: str, recipe: TrainRecipe) -> FeatureCNN:
    from genlab.metrics.features import train_classifier

    c, h, w = dataset.shape
    assert dataset.meta.num_classes is not None
    torch.manual_seed(recipe.seed)
    net = FeatureCNN(c, h, w, dataset.meta.num_classes, max_grid=LAYOUTS[layout])
    # train_classifier scores its "test" split at the end: here that is the validation part
    train_classifier(net, dataset, recipe, progress=True)
    return net


def mean_se(x: torch.Tensor) -> tuple[float, float]:
    x = x.double()
    return float(x.mean()), float(x.std() / math.sqrt(len(x)))


def compare(name: str, data_dir: str) -> dict:
    dataset = load_dataset(name, LoadOptions(data_dir=data_dir))
    recipe = TrainRecipe()
    per_layout: dict[str, list[torch.Tensor]] = {k: [] for k in LAYOUTS}
    seconds: dict[str, float] = dict.fromkeys(LAYOUTS, 0.0)
    steps = []
    for i, (rest, val) in enumerate(folds(dataset.train, name)):
        fold = dataclasses.replace(dataset, train=rest, test=val)
        steps.append(train_steps(recipe, len(rest), dataset.shape))
        for layout in LAYOUTS:
            start = time.perf_counter()
            net = train_layout(fold, layout, recipe)
            seconds[layout] += time.perf_counter() - start
            per_layout[layout].append(correct(net, val, dataset.levels))
            acc = float(per_layout[layout][-1].double().mean())
            print(f"{name} fold {i}: {layout} validation accuracy {acc:.4f}", flush=True)
    hits = {k: torch.cat(v) for k, v in per_layout.items()}
    rows = {}
    for layout, h in hits.items():
        acc, se = mean_se(h)
        rows[layout] = {
            "max_grid": LAYOUTS[layout],
            "validation_accuracy": acc,
            "stderr": se,
            "train_seconds": seconds[layout],
        }
    diff, diff_se = mean_se(hits["spatial"].double() - hits["global"].double())
    if abs(diff) > 2 * diff_se:
        chosen = "spatial" if diff > 0 else "global"
        why = f"{chosen} is higher by more than two paired standard errors"
    else:
        chosen = SHIPPED
        why = "the difference is inside two paired standard errors, so the shipped layout stays"
    return {
        "validation": (
            f"{FOLDS[name]} folds of the train split (every train image validates once)"
            if name in FOLDS
            else "one seeded tenth of the train split"
        ),
        "validation_images": len(hits["spatial"]),
        "train_steps_per_fold": steps,
        "layouts": rows,
        "spatial_minus_global": diff,
        "spatial_minus_global_stderr": diff_se,
        "chosen": chosen,
        "rule": why,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist"])
    p.add_argument("--data-dir", default="/usr/share/datasets")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result["protocol"] = (
        f"{ARCH_VERSION} with the shipped training recipe ({dataclasses.asdict(TrainRecipe())}),"
        " one CPU thread, seeded; validation images held out of the train split only; "
        "spatial: the last map average-pooled to at most 8x8 and flattened (shipped), "
        "global: averaged to one vector; paired SE over validation images"
    )
    result.setdefault("datasets", {})
    for name in args.datasets:
        found, why = dataset_available(name, LoadOptions(data_dir=args.data_dir))
        if not found:
            print(f"skipping {name}: {why}")
            continue
        result["datasets"][name] = compare(name, args.data_dir)
        out.write_text(json.dumps(result, indent=2) + "\n")  # after each dataset
        print(json.dumps(result["datasets"][name], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
