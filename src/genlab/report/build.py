"""``genlab report``: run every registered study and write one HTML page."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from genlab.errors import GenlabError
from genlab.report.html import ReportEntry, render_report
from genlab.studies.base import Budget, get_study, run_study, say, study_names

__all__ = ["INDEX", "build_report"]

INDEX = "index.html"


def build_report(
    budget: Budget,
    out: str | Path,
    device: str = "auto",
    studies: Sequence[str] | None = None,
) -> Path:
    """Run ``studies`` (default: every registered one) into ``out/<study>/`` at ``budget``
    and write ``out/index.html``; returns its path.

    Names and the device are checked before anything runs. A study that fails with a
    user error (e.g. a run that diverges) gets an error section on the page, and once
    the page is written one GenlabError names the studies that failed.
    """
    from genlab.train.distributed import resolve_device

    names = list(studies) if studies is not None else study_names()
    if not names:
        raise GenlabError("no study to run; choose among " + ", ".join(study_names()))
    for name in names:
        get_study(name)
    resolved = str(resolve_device(device))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries = [_run_one(name, budget, out, resolved) for name in names]
    minutes = (time.perf_counter() - start) / 60
    meta = (
        f"budget {budget} · device {resolved} · {len(names)} studies · "
        f"{minutes:.1f} min · written {time.strftime('%Y-%m-%d %H:%M')}"
    )
    path = out / INDEX
    tmp = out / f".{INDEX}.tmp"
    tmp.write_text(render_report(entries, title="genlab studies", meta=meta), encoding="utf-8")
    tmp.replace(path)
    say("report", f"{path} ({minutes:.1f} min)")
    failed = [e for e in entries if e.result is None]
    if failed:
        which = "; ".join(f"{e.name}: {e.error}" for e in failed)
        raise GenlabError(f"report written to {path}, but some studies failed ({which})")
    return path


def _run_one(name: str, budget: Budget, out: Path, device: str) -> ReportEntry:
    folder = out / name
    try:
        return ReportEntry(name, folder, run_study(name, budget, folder, device))
    except GenlabError as err:
        say(name, f"failed: {err}")
        return ReportEntry(name, folder, error=str(err))
