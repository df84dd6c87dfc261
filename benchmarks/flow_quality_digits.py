"""Flow quality on digits: test bits/dim and FD per preset and dequantization.

Exactly the issue's protocol: ``genlab train flow --data digits --steps 3000
model.preset=P [model.dequantization=D]`` with default settings (weights selected on
the validation part of train), then ``genlab eval RUN --metrics bpd,fd --json`` on the
test split. Targets: realnvp <= 2.05, best preset <= 1.95, variational below uniform
by >= 0.05 bits/dim; the per-pixel baseline is 2.44. Slow (minutes per run on CPU).

    python benchmarks/flow_quality_digits.py [--runs realnvp:uniform,nsf:uniform,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import run, validation

DEFAULT_RUNS = "realnvp:uniform,realnvp:variational,glow:uniform,nsf:uniform,nsf:variational"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default=DEFAULT_RUNS)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--workdir", default="runs/bench-flow")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "flow_quality_digits.json")
    )
    args = p.parse_args()
    genlab = [sys.executable, "-m", "genlab"]
    out_file = Path(args.out)  # rows not rerun are kept
    results = json.loads(out_file.read_text())["runs"] if out_file.exists() else {}
    for item in args.runs.split(","):
        preset, deq = item.split(":")
        out = Path(args.workdir) / f"{preset}-{deq}"
        t = time.perf_counter()
        run(
            [
                *genlab,
                "train",
                "flow",
                "--data",
                "digits",
                "--steps",
                str(args.steps),
                "--out",
                str(out),
                "--force",
                "--quiet",
                f"model.preset={preset}",
                f"model.dequantization={deq}",
            ]
        )
        minutes = (time.perf_counter() - t) / 60
        scores = json.loads(run([*genlab, "eval", str(out), "--metrics", "bpd,fd", "--json"]))
        val = validation(out)
        best = min(val, key=lambda r: r["bpd"])
        results[item] = {
            "test_bpd": scores["bpd"],
            "fd": scores["fd"],
            "fd_se": scores["fd_se"],
            "feature_net": scores["feature_net"],
            "best_val_bpd": best["bpd"],
            "best_step": best["step"],
            "train_minutes": minutes,
        }
        print(
            f"{item:22s} test bpd {scores['bpd']:.4f}  FD {scores['fd']:.2f}  "
            f"(val {best['bpd']:.4f} at step {best['step']}, {minutes:.1f} min)",
            flush=True,
        )
    payload = {
        "protocol": f"digits, {args.steps} steps, defaults, selection on validation; "
        "test split, 1000 samples for FD",
        "runs": results,
    }
    out_file.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
