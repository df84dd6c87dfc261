"""Diffusion sample quality on digits, through the CLI exactly as a user runs it.

    genlab train diffusion --data digits --steps 4000 --out RUN
    genlab sample RUN -n 1000 --sampler S --steps K --out S-K.npz
    genlab eval RUN --samples S-K.npz --metrics fd,kid,pr --json

FD against the TEST split, next to the floor (1000 train images against the test split,
the same metric). Issue targets: DPM-Solver++ at 20 steps <= 1.25 x floor and within
15% of DDPM at 1000 steps; one-shot clearly worse. For scale, a public library's 1.0M
U-Net after 4000 steps at batch 128: 1.2 x floor at DPM-Solver++ 20, 1.35 at DDIM 50,
1.4 at DPM-Solver++ 10.

    python benchmarks/diffusion_quality_digits.py [--steps 4000] [--points dpmpp:20,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_POINTS = "dpmpp:10,dpmpp:20,ddim:20,ddim:50,ddpm:100,ddpm:1000,oneshot:1"


def run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stdout


def floor_fd() -> dict[str, float]:
    from genlab.data import load_dataset
    from genlab.metrics.evaluate import reference_values

    return reference_values(load_dataset("digits"), n=1000, metrics=["fd", "kid", "pr"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--points", default=DEFAULT_POINTS)
    p.add_argument("--workdir", default="runs/bench-diffusion")
    p.add_argument("--overrides", default="", help="extra KEY=VALUE,... for genlab train")
    p.add_argument("--skip-train", action="store_true", help="reuse the run in --workdir")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "diffusion_quality_digits.json")
    )
    args = p.parse_args()
    genlab = [sys.executable, "-m", "genlab"]
    work = Path(args.workdir)
    run_dir = work / "run"
    extra = [o for o in args.overrides.split(",") if o]
    minutes = None
    if not args.skip_train:
        t = time.perf_counter()
        run(
            [*genlab, "train", "diffusion", "--data", "digits", "--steps", str(args.steps)]
            + ["--out", str(run_dir), "--force", "--quiet", *extra]
        )
        minutes = (time.perf_counter() - t) / 60
        print(f"trained {args.steps} steps in {minutes:.1f} min", flush=True)
    floor = floor_fd()
    print(f"floor FD {floor['fd']:.3f}", flush=True)
    points = {}
    for item in args.points.split(","):
        sampler, k = item.split(":")
        npz = work / f"{sampler}-{k}.npz"
        t = time.perf_counter()
        run(
            [*genlab, "sample", str(run_dir), "-n", "1000", "--sampler", sampler]
            + ["--steps", k, "--out", str(npz)]
        )
        seconds = time.perf_counter() - t
        scores = json.loads(
            run(
                [*genlab, "eval", str(run_dir), "--samples", str(npz), "--metrics", "fd,kid,pr"]
                + ["--json"]
            )
        )
        points[item] = {**scores, "fd_over_floor": scores["fd"] / floor["fd"], "sample_s": seconds}
        print(
            f"{item:12s} FD {scores['fd']:.3f} ({scores['fd'] / floor['fd']:.2f} x floor)  "
            f"KID {scores['kid']:.3f}  P/R {scores['precision']:.2f}/{scores['recall']:.2f}  "
            f"({seconds:.0f} s incl. start-up)",
            flush=True,
        )
    payload = {
        "protocol": "digits; genlab train diffusion defaults; 1000 samples per point; "
        "FD against the test split; floor = 1000 train images against the test split",
        "train_steps": args.steps,
        "overrides": extra,
        "train_minutes": minutes,
        "floor": floor,
        "points": points,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
