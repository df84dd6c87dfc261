"""Reference values on digits: the floor (real train images) and the pixelwise baseline.

Every number is against the TEST split (360 images) in the feature space of genlab's
digits feature network. The floor scores 1000 seeded train images; the baseline is
``genlab train pixelwise --data digits`` with default settings, scored by
``genlab eval`` (1000 samples, seed 0). These are the numbers quoted in the README.

    python benchmarks/reference_digits.py [--out benchmarks/results/reference_digits.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from genlab.data import load_dataset
from genlab.inference import evaluate_run
from genlab.metrics import reference_values
from genlab.runs import load_run, make_config, train_run

METRICS = ["fd", "kid", "pr", "sharpness"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "reference_digits.json")
    )
    args = p.parse_args()
    ds = load_dataset("digits")
    floor = reference_values(ds, n=1000, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config("pixelwise", overrides={"train.progress": "false", "train.device": "cpu"})
        train_run(cfg, Path(tmp) / "pix")
        base = evaluate_run(load_run(Path(tmp) / "pix"), ["bpd", *METRICS], n_samples=1000)
    result = {
        "protocol": "digits test split (360) as reference; 1000 samples/images; seed 0; "
        "feature net: genlab digits CNN; pixelwise: default settings, EMA weights",
        "floor_train_vs_test": floor,
        "pixelwise": base,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    keys = ["bpd", "fd", "kid", "precision", "recall", "sharpness"]
    print(f"{'':22s}" + "".join(f"{k:>11s}" for k in keys))
    for name, row in (("floor (train vs test)", floor), ("pixelwise", base)):
        print(f"{name:22s}" + "".join(f"{row.get(k, float('nan')):11.4g}" for k in keys))
    print(f"feature net test accuracy: {floor['feature_net_test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
