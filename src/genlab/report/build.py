"""``genlab report``: run every registered study on one dataset and write its HTML page.

Layout of ``OUT``: ``OUT/<dataset>/<study>/`` (each study's results.json, figures, runs),
``OUT/<dataset>/index.html`` (the dataset's page) and ``OUT/<dataset>/report.json`` (what
the index shows of it), and ``OUT/index.html``, an index linking every dataset page found
under ``OUT``: a report for a second dataset into the same ``OUT`` adds its line.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from genlab.atomic import write_atomic
from genlab.data import Dataset, load_dataset, use_data_dir
from genlab.errors import GenlabError
from genlab.report.html import DatasetPage, ReportEntry, render_index, render_report
from genlab.studies.base import (
    Budget,
    describe_data,
    get_study,
    read_result,
    run_study,
    say,
    study_names,
)
from genlab.studies.datasets import DEFAULT_DATA, check_data, data_slug
from genlab.threads import choose_threads, default_threads

__all__ = ["INDEX", "SUMMARY", "build_report", "makespan", "schedule", "write_index"]

INDEX = "index.html"
SUMMARY = "report.json"  # next to a dataset's page: what the index shows of it
SEARCHED = 8  # studies up to which every submission order is tried (8! = 40,320)


def build_report(
    budget: Budget,
    out: str | Path,
    device: str = "auto",
    studies: Sequence[str] | None = None,
    jobs: int = 1,
    data: str = DEFAULT_DATA,
    data_dir: str | None = None,
) -> Path:
    """Run ``studies`` (default: every registered one) on dataset ``data`` into
    ``out/<data>/<study>/`` at ``budget``, write the dataset's page ``out/<data>/index.html``
    and the index of every dataset page under ``out``, ``out/index.html``; returns the
    dataset page's path.

    ``jobs`` > 1 runs that many studies at once, each in its own process with an equal
    share of the CPU threads (studies are independent and mostly single-threaded work on
    small batches, so two processes on two cores take about half the time of one).

    Names, the dataset (present, and with what each study needs) and the device are
    checked before anything runs. A study that fails with a
    user error (e.g. a run that diverges) gets an error section on the page, and once
    the page is written one GenlabError names the studies that failed. ``data_dir``
    is searched first for the data, here and in every study's process.
    """
    use_data_dir(data_dir)
    from genlab.train.distributed import resolve_device

    names = list(studies) if studies is not None else study_names()
    if not names:
        raise GenlabError("no study to run; choose among " + ", ".join(study_names()))
    if jobs < 1:
        raise GenlabError(f"--jobs must be at least 1, got {jobs}")
    described = describe_data(_check_data(names, data))
    resolved = str(resolve_device(device))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the report")
    folder = out / data_slug(data)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if jobs == 1 or len(names) == 1:
        entries = [_run_one(name, budget, folder, resolved, data) for name in names]
    else:
        costs = {n: _expected_cost(n, budget, folder, data) for n in names}
        entries = _run_parallel(
            names, budget, folder, resolved, jobs, data=data, costs=costs, data_dir=data_dir
        )
    minutes = (time.perf_counter() - start) / 60
    meta = (
        f"dataset {described} · budget {budget} · device {resolved} · {len(names)} studies · "
        f"{minutes:.1f} min · written {time.strftime('%Y-%m-%d %H:%M')}"
    )
    path = folder / INDEX
    write_atomic(path, render_report(entries, title=f"genlab studies on {data}", meta=meta))
    verdicts = {e.name: e.result.verdict if e.result else "failed" for e in entries}
    summary = {
        "data": data,
        "meta": meta,
        "budget": budget,
        "jobs": jobs,
        "minutes": round(minutes, 1),
        "machine": f"{resolved}, {os.cpu_count()} cores",
        "verdicts": verdicts,
    }
    write_atomic(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
    index = write_index(out)
    say("report", f"{path} ({minutes:.1f} min); index of every dataset: {index}")
    failed = [e for e in entries if e.result is None]
    if failed:
        which = "; ".join(f"{e.name}: {e.error}" for e in failed)
        raise GenlabError(f"report written to {path}, but some studies failed ({which})")
    return path


def write_index(out: Path) -> Path:
    """Write ``out/index.html``, linking every dataset page ``out/*/index.html`` that has
    its ``report.json`` (in name order); returns its path."""
    pages = []
    for summary in sorted(out.glob(f"*/{SUMMARY}")):
        try:
            raw = json.loads(summary.read_text(encoding="utf-8"))
            href = f"{summary.parent.name}/{INDEX}"
            page = DatasetPage(str(raw["data"]), href, str(raw["meta"]), dict(raw["verdicts"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a dataset page of genlab report: not linked
        if (summary.parent / INDEX).is_file():
            pages.append(page)
    path = out / INDEX
    write_atomic(path, render_index(pages, title="genlab studies"))
    return path


def _check_data(names: list[str], data: str) -> Dataset:
    """The dataset ``data``, once every study in ``names`` is known and can run on it
    (else one GenlabError naming the studies that cannot, and those that can)."""
    studies = [get_study(name) for name in names]
    dataset = load_dataset(data)
    refused: dict[str, str] = {}
    for study in studies:
        try:
            check_data(study.name, study.needs, dataset)
        except GenlabError as err:
            refused[study.name] = str(err)
    if refused:
        others = [name for name in names if name not in refused]
        hint = f"; the others can: --studies {','.join(others)}" if others else ""
        raise GenlabError("; ".join(refused.values()) + hint)
    return dataset


def _run_parallel(
    names: list[str],
    budget: Budget,
    out: Path,
    device: str,
    jobs: int,
    runner: Callable[[str, Budget, Path, str, str], str] | None = None,
    data: str = DEFAULT_DATA,
    costs: Mapping[str, float] | None = None,
    data_dir: str | None = None,
) -> list[ReportEntry]:
    """Each study in a fresh (spawned) process, ``jobs`` at a time, by ``runner`` (a
    module-level function: '' when ``out/<name>/results.json`` is written, else the
    error), in the order :func:`schedule` finds shortest for their ``costs``; entries in
    the order of ``names``."""
    runner = runner or _run_child
    workers = min(jobs, len(names))
    threads = max(1, default_threads() // workers)  # the report's --threads, shared
    order = schedule(names, costs or {}, workers)
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(threads, data_dir),
    ) as pool:
        futures = {n: pool.submit(runner, n, budget, out, device, data) for n in order}
        errors = [futures[n].result() for n in names]
    return [
        ReportEntry(n, out / n, error=e) if e else ReportEntry(n, out / n, read_result(out / n))
        for n, e in zip(names, errors, strict=True)
    ]


def makespan(order: Sequence[str], costs: Mapping[str, float], workers: int) -> float:
    """Minutes until the last study ends when ``workers`` take ``order`` first come, first
    served (each free worker takes the next), each study lasting its ``costs``."""
    free = [0.0] * workers
    for name in order:
        i = free.index(min(free))
        free[i] += costs.get(name, 0.0)
    return max(free)


def schedule(names: Sequence[str], costs: Mapping[str, float], workers: int) -> list[str]:
    """The submission order of ``names`` whose :func:`makespan` is least: every order is
    tried for up to :data:`SEARCHED` studies (the first best in an order that starts from
    the longest first wins ties), else the longest first. Longest-first alone can leave
    one worker three long studies while the other ends early (six studies of 17, 16, 15,
    14, 14 and 1 minutes on two workers: 45 minutes longest first, 43 in the best
    order)."""
    longest_first = sorted(names, key=lambda n: -costs.get(n, 0.0))  # stable for ties
    if len(names) > SEARCHED or workers < 2:
        return longest_first
    best, best_time = longest_first, makespan(longest_first, costs, workers)
    for order in itertools.permutations(longest_first):
        t = makespan(order, costs, workers)
        if t < best_time - 1e-9:
            best, best_time = list(order), t
    return best


def _expected_cost(name: str, budget: Budget, folder: Path, data: str) -> float:
    """Minutes study ``name`` is expected to take: those of its last run in ``folder`` at
    the same budget on the same data, else its registered rough cost."""
    try:
        protocol = read_result(folder / name).protocol
        if protocol.get("budget") == budget and protocol.get("dataset") == data:
            return float(protocol["wall_time_s"]) / 60
    except (GenlabError, KeyError, TypeError, ValueError):
        pass  # no earlier run (or not comparable): the registered estimate
    return get_study(name).cost_on(data)


def _start_worker(threads: int, data_dir: str | None) -> None:
    choose_threads(threads)
    use_data_dir(data_dir)


def _run_child(name: str, budget: Budget, out: Path, device: str, data: str) -> str:
    """Run one study in a worker; '' on success, else the user error's message."""
    entry = _run_one(name, budget, out, device, data)
    return entry.error if entry.result is None else ""


def _run_one(name: str, budget: Budget, out: Path, device: str, data: str) -> ReportEntry:
    folder = out / name
    try:
        return ReportEntry(name, folder, run_study(name, budget, folder, device, data))
    except GenlabError as err:
        say(name, f"failed: {err}")
        return ReportEntry(name, folder, error=str(err))
