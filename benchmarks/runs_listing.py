"""The README's example of ``genlab runs`` and of the end-of-run summary, from real runs.

Three small runs on digits under ``--workdir`` (default runs/listing), through the CLI as
a user starts them: one finished, one stopped by SIGINT after its first scheduled
checkpoint, one by SIGINT long before its first (each writes a checkpoint at the step it
reached and prints the command that resumes it); then ``genlab runs`` over them.
Written to results/runs_listing.json; a minute of CPU.

    python benchmarks/runs_listing.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "runs_listing.json"
BASE = ["--data", "digits", "--threads", "1", "--quiet", "train.log_every=5"]


def genlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "genlab", *args]


def logged_step(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = [json.loads(x)["step"] for x in path.read_text().splitlines() if '"train"' in x]
    return max(steps, default=0)


def stop_at(cmd: list[str], run: Path, at: int, signals: int) -> str:
    """Run ``cmd``, send ``signals`` SIGINTs once step ``at`` is logged; its stderr."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    while logged_step(run) < at and proc.poll() is None:
        time.sleep(0.02)
    for _ in range(signals):
        proc.send_signal(signal.SIGINT)
    return proc.communicate()[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", default="runs/listing")
    work = Path(p.parse_args().workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    done = subprocess.run(
        genlab("train", "vae", "--out", str(work / "vae"), "--steps", "600", *BASE),
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    flow = genlab("train", "flow", "--out", str(work / "flow"), "--steps", "3000", *BASE)
    stopped = stop_at(flow + ["train.ckpt_every=200"], work / "flow", 300, 1)
    diff = genlab("train", "diffusion", "--out", str(work / "diffusion"), "--steps", "2000", *BASE)
    early = stop_at(diff, work / "diffusion", 10, 1)
    listing = subprocess.run(
        genlab("runs", str(work)), capture_output=True, text=True, check=True
    ).stdout
    result = {
        "protocol": "digits, CPU, one thread; commands as recorded; SIGINT sent by the script",
        "finished_summary": done.strip(),
        "stopped_summary": stopped.strip(),
        "stopped_early": early.strip(),
        "listing": listing.rstrip(),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(listing)


if __name__ == "__main__":
    main()
