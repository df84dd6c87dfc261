"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["run", "validation"]


def run(cmd: list[str]) -> str:
    """Run a command; its stdout, or exit with the command and the end of its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stdout


def validation(run_dir: Path) -> list[dict]:
    """The validation records of a run's metrics.jsonl, in step order."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "val"]
