"""``genlab report``: run every registered study and write one HTML page."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from genlab.atomic import write_atomic
from genlab.errors import GenlabError
from genlab.report.html import ReportEntry, render_report
from genlab.studies.base import Budget, get_study, read_result, run_study, say, study_names
from genlab.threads import choose_threads, default_threads

__all__ = ["INDEX", "build_report"]

INDEX = "index.html"


def build_report(
    budget: Budget,
    out: str | Path,
    device: str = "auto",
    studies: Sequence[str] | None = None,
    jobs: int = 1,
) -> Path:
    """Run ``studies`` (default: every registered one) into ``out/<study>/`` at ``budget``
    and write ``out/index.html``; returns its path.

    ``jobs`` > 1 runs that many studies at once, each in its own process with an equal
    share of the CPU threads (studies are independent and mostly single-threaded work on
    small batches, so two processes on two cores take about half the time of one).

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
    if jobs < 1:
        raise GenlabError(f"--jobs must be at least 1, got {jobs}")
    resolved = str(resolve_device(device))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if jobs == 1 or len(names) == 1:
        entries = [_run_one(name, budget, out, resolved) for name in names]
    else:
        entries = _run_parallel(names, budget, out, resolved, jobs)
    minutes = (time.perf_counter() - start) / 60
    meta = (
        f"budget {budget} · device {resolved} · {len(names)} studies · "
        f"{minutes:.1f} min · written {time.strftime('%Y-%m-%d %H:%M')}"
    )
    path = out / INDEX
    write_atomic(path, render_report(entries, title="genlab studies", meta=meta))
    say("report", f"{path} ({minutes:.1f} min)")
    failed = [e for e in entries if e.result is None]
    if failed:
        which = "; ".join(f"{e.name}: {e.error}" for e in failed)
        raise GenlabError(f"report written to {path}, but some studies failed ({which})")
    return path


def _run_parallel(
    names: list[str],
    budget: Budget,
    out: Path,
    device: str,
    jobs: int,
    runner: Callable[[str, Budget, Path, str], str] | None = None,
) -> list[ReportEntry]:
    """Each study in a fresh (spawned) process, ``jobs`` at a time, by ``runner`` (a
    module-level function: '' when ``out/<name>/results.json`` is written, else the
    error); entries in the order of ``names``."""
    runner = runner or _run_child
    workers = min(jobs, len(names))
    threads = max(1, default_threads() // workers)  # the report's --threads, shared
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_limit_threads, initargs=(threads,)
    ) as pool:
        futures = [pool.submit(runner, n, budget, out, device) for n in names]
        errors = [f.result() for f in futures]
    return [
        ReportEntry(n, out / n, error=e) if e else ReportEntry(n, out / n, read_result(out / n))
        for n, e in zip(names, errors, strict=True)
    ]


def _limit_threads(threads: int) -> None:
    choose_threads(threads)


def _run_child(name: str, budget: Budget, out: Path, device: str) -> str:
    """Run one study in a worker; '' on success, else the user error's message."""
    entry = _run_one(name, budget, out, device)
    return entry.error if entry.result is None else ""


def _run_one(name: str, budget: Budget, out: Path, device: str) -> ReportEntry:
    folder = out / name
    try:
        return ReportEntry(name, folder, run_study(name, budget, folder, device))
    except GenlabError as err:
        say(name, f"failed: {err}")
        return ReportEntry(name, folder, error=str(err))
