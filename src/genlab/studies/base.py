"""What a study is and what it hands back.

A :class:`Study` answers one question of the theory with an experiment: it states the
claim it tests, measures the evidence (numbers, tables, figures) and gives a verdict,
``holds``, ``does not hold`` or ``inconclusive at this budget``, reporting what it
measured even when that goes against the claim. ``run(budget, out, device, data)`` trains
on the dataset ``data`` (``digits`` by default), writes figures (PNG) into ``out`` and
returns a :class:`StudyResult`; :func:`run_study` checks the dataset against the study's
:class:`~genlab.studies.datasets.DataNeeds`, adds the protocol and writes
``out/results.json``.

Studies train with the one trainer (:func:`train_quietly` -> ``genlab.runs.train_run``)
into run folders under ``out/runs/``.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import matplotlib
import matplotlib.pyplot as plt
import torch

from genlab.atomic import write_atomic
from genlab.data import Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.registry import STUDIES, resolve, unknown_name
from genlab.runs import make_config, train_run
from genlab.studies.checks import Evidence
from genlab.studies.datasets import DEFAULT_DATA, DataNeeds, check_data
from genlab.train.distributed import resolve_device

__all__ = [
    "RESULTS_FILE",
    "Budget",
    "Figure",
    "Study",
    "StudyResult",
    "Table",
    "Verdict",
    "check_study_data",
    "describe_data",
    "get_study",
    "pyplot",
    "read_result",
    "run_study",
    "save_figure",
    "say",
    "study_names",
    "train_quietly",
    "verdict_of",
]

Budget = Literal["quick", "full"]
Verdict = Literal["holds", "does not hold", "inconclusive at this budget"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
RESULTS_FILE = "results.json"
Cell = str | float | int | None


@dataclass(frozen=True)
class Table:
    """A table of the result: ``rows`` are lists of cells, one per column."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG written in the study's folder (``file`` is relative to it)."""

    file: str
    caption: str


@dataclass
class StudyResult:
    """Claim, measured evidence and verdict of one study run (saved as results.json).

    ``evidence`` maps names (with their unit in the name, e.g. ``*_bpd``, ``*_s``) to
    numbers; ``None`` marks a number that could not be measured (e.g. a run that
    diverged); an :class:`~genlab.studies.checks.Evidence`, so reading a name never
    recorded raises. ``summary`` says in words what the evidence shows about the claim.
    """

    study: str
    question: str
    claim: str
    verdict: Verdict
    summary: str
    evidence: Evidence
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.verdict in VERDICTS, f"verdict {self.verdict!r} not in {VERDICTS}"
        self.evidence = Evidence(self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: non-finite numbers become ``None``."""
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StudyResult:
        data = dict(raw)
        data["tables"] = [Table(**t) for t in data.get("tables", [])]
        data["figures"] = [Figure(**f) for f in data.get("figures", [])]
        return cls(**data)

    def write(self, out: Path) -> Path:
        """Write ``out/results.json`` atomically; returns its path."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        return write_atomic(out / RESULTS_FILE, text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_result(out: Path) -> StudyResult:
    """The StudyResult saved in ``out/results.json``."""
    path = Path(out) / RESULTS_FILE
    try:
        return StudyResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, AssertionError) as err:
        raise GenlabError(
            f"{path} is not a readable study result ({err}); rerun the study"
        ) from None


@dataclass(frozen=True)
class Study:
    """A question, the claim that answers it, and the experiment that tests the claim.

    ``run(budget, out, device, data)``: ``quick`` finishes in minutes on two CPU cores,
    ``full`` is meant for a GPU; ``device`` is ``auto``, ``cpu`` or ``cuda[:N]``;
    ``data`` the dataset's name, one that has what ``needs`` asks.
    """

    name: str
    question: str
    claim: str
    run: Callable[[Budget, Path, str, str], StudyResult]
    needs: DataNeeds = DataNeeds()
    # rough minutes on one core at the quick budget on digits: ``genlab report --jobs N``
    # starts the longest studies first (a previous run's measured time, if any, wins)
    cost: float = 1.0


def study_names() -> list[str]:
    """Registered study names, in report order."""
    return list(STUDIES)


def get_study(name: str) -> Study:
    """The registered study ``name``; one clear error for an unknown name."""
    if name not in STUDIES:
        raise unknown_name("study", name, list(STUDIES))
    study = resolve(STUDIES[name])
    assert isinstance(study, Study) and study.name == name, (name, study)
    return study


def run_study(
    name: str, budget: Budget, out: str | Path, device: str = "auto", data: str = DEFAULT_DATA
) -> StudyResult:
    """Run study ``name`` on dataset ``data`` into ``out`` (created), add the protocol,
    write results.json. The dataset is loaded and checked before ``out`` is created."""
    if budget not in get_args(Budget):
        raise GenlabError(f"unknown budget {budget!r}; use quick or full")
    study = get_study(name)
    check_study_data(study, data)
    resolved = str(resolve_device(device))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the study")
    out.mkdir(parents=True, exist_ok=True)
    say(name, f"{budget} budget on {data}, {resolved}, writing to {out}")
    start = time.perf_counter()
    result = study.run(budget, out, resolved, data)
    wall = time.perf_counter() - start
    result.protocol = {
        "dataset": data,
        "budget": budget,
        "device": resolved,
        **result.protocol,
        "wall_time_s": round(wall, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    path = result.write(out)
    say(name, f"verdict: {result.verdict} ({wall:.0f} s); {path}")
    return result


def check_study_data(study: Study, data: str) -> Dataset:
    """The dataset ``data``, loaded; one GenlabError if it is unknown, absent or lacks
    what ``study`` needs."""
    dataset = load_dataset(data)
    check_data(study.name, study.needs, dataset)
    return dataset


def say(study: str, message: str) -> None:
    """One progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')} {study}] {message}", file=sys.stderr, flush=True)


def train_quietly(
    family: str,
    overrides: Mapping[str, Any],
    run: Path,
    device: str,
    *,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Train ``family`` with the one trainer into ``run`` (replaced if it holds a run):
    no progress bar, no sample grids, on ``device``."""
    fixed = {"train.progress": False, "train.sample_every": 0, "train.device": device}
    cfg = make_config(family, overrides={**overrides, **fixed})
    run.parent.mkdir(parents=True, exist_ok=True)
    return train_run(cfg, run, force=True, callbacks=callbacks)


def save_figure(fig: Any, out: Path, name: str, caption: str) -> Figure:
    """Save a matplotlib figure as ``out/name`` (PNG), close it, return its record."""
    fig.savefig(out / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Figure(name, caption)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    matplotlib.use("Agg")
    return plt


def describe_data(dataset: Dataset) -> str:
    """The dataset's facts for a protocol, read off the dataset itself:
    ``NAME (C x H x W, L levels; train N, test M images)``, e.g. for digits 1x8x8."""
    shape = "x".join(str(n) for n in dataset.shape)
    levels = "continuous" if dataset.levels is None else f"{dataset.levels} levels"
    sizes = f"train {len(dataset.train)}, test {len(dataset.test)} images"
    return f"{dataset.name} ({shape}, {levels}; {sizes})"


def verdict_of(
    checks: Mapping[str, bool | None], *, budget: Budget, firm: Collection[str] = ()
) -> Verdict:
    """The verdict from named checks of the claim (``None``: could not be measured).

    ``holds`` when every check passed. A failed check named in ``firm`` (one no budget
    can change, e.g. two determinants that disagree) means ``does not hold``; any other
    failed check means ``does not hold`` at the full budget and ``inconclusive at this
    budget`` at the quick one, as does a check that could not be measured."""
    assert set(firm) <= set(checks), (sorted(firm), sorted(checks))
    values = list(checks.values())
    if all(v is True for v in values):
        return "holds"
    if any(checks[name] is False for name in firm):
        return "does not hold"
    if budget == "full" and any(v is False for v in values):
        return "does not hold"
    return "inconclusive at this budget"
