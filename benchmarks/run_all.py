"""Run every benchmark in this folder (``make bench``); results land in results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = [
    "reference_digits.py",
    "trainer_overhead.py",
    "flow_speed.py",
    "flow_quality_digits.py",
    "unet_speed.py",
    "diffusion_speed.py",
    "diffusion_quality_digits.py",
    "vae_quality_digits.py",
    "metric_speed.py",
    "speed.py",  # genlab against its public peers (the `bench` extra), ~1 h
]

if __name__ == "__main__":
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)]).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
