"""What a study is and what it hands back.

A :class:`Study` answers one question of the theory with an experiment: it states the
claim it tests, measures the evidence (numbers with their standard errors, tables, figures)
and gives a verdict from its checks (:mod:`genlab.studies.checks`): ``holds``, ``does
not hold`` or ``undecided`` (with the effect, its SE and the budget that would decide
it), reporting what it measured even when that goes against the claim.
``run(budget, out, device, data)`` trains on the dataset ``data`` (``digits`` by
default), writes figures (PNG) into ``out`` and returns a :class:`StudyResult`;
:func:`run_study` checks the dataset against the study's
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
from collections.abc import Callable, Mapping, Sequence
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
from genlab.runs.distill import distill_config
from genlab.studies.checks import VERDICTS, Check, Evidence, Verdict, verdict_line, verdict_of
from genlab.studies.datasets import DEFAULT_DATA, DataNeeds, check_data
from genlab.train.distributed import resolve_device

__all__ = [
    "RESULTS_FILE",
    "Budget",
    "Figure",
    "Study",
    "StudyResult",
    "Table",
    "check_study_data",
    "describe_data",
    "distill_quietly",
    "get_study",
    "pyplot",
    "read_result",
    "run_study",
    "save_figure",
    "say",
    "study_names",
    "train_quietly",
]

Budget = Literal["quick", "full"]
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
    ``checks`` are the claim's checks (effect, SE, margin, status); the verdict is read
    off them (:func:`~genlab.studies.checks.verdict_of`), never set by hand.
    """

    study: str
    question: str
    claim: str
    summary: str
    evidence: Evidence
    checks: dict[str, Check]
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.evidence = Evidence(self.evidence)
        self.checks = {
            k: c if isinstance(c, Check) else Check.from_dict(c) for k, c in self.checks.items()
        }

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.checks)

    @property
    def verdict_text(self) -> str:
        """The verdict with, when undecided or failed, each deciding check's numbers."""
        return verdict_line(self.checks)

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: non-finite numbers become ``None``; each check with its status
        and the budget that would decide it, and the verdict beside them."""
        raw = asdict(self)
        raw["checks"] = {k: c.to_dict() for k, c in self.checks.items()}
        raw["verdict"] = self.verdict
        raw["verdict_text"] = self.verdict_text
        return _finite(raw)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StudyResult:
        data = {k: v for k, v in raw.items() if k not in ("verdict", "verdict_text")}
        assert raw.get("verdict", VERDICTS[0]) in VERDICTS, f"verdict {raw.get('verdict')!r}"
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
    # rough minutes at the quick budget on digits: ``genlab report --jobs N`` starts the
    # longest studies first (a previous run's measured time in the folder, if any, wins)
    cost: float = 1.0
    # the same for other datasets, by name (those without an entry use ``cost``)
    costs: Mapping[str, float] = field(default_factory=dict)

    def cost_on(self, data: str) -> float:
        """Rough minutes of a quick run on dataset ``data``."""
        return self.costs.get(data, self.cost)


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
    say(name, f"verdict: {result.verdict_text} ({wall:.0f} s); {path}")
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
    cfg = make_config(family, overrides={**overrides, **_quiet(device)})
    run.parent.mkdir(parents=True, exist_ok=True)
    return train_run(cfg, run, force=True, callbacks=callbacks)


def _quiet(device: str) -> dict[str, Any]:
    """What a study's training runs fix: no progress bar, no sample grids, its device."""
    return {"train.progress": False, "train.sample_every": 0, "train.device": device}


def distill_quietly(
    teacher: Path, method: str, overrides: Mapping[str, Any], run: Path, device: str
) -> Path:
    """Distil the trained ``teacher`` run with ``method`` into ``run`` as ``genlab distill``
    does (its config: the teacher's data, network and batch), quietly, on ``device``."""
    cfg = distill_config(teacher, method, overrides={**overrides, **_quiet(device)})
    run.parent.mkdir(parents=True, exist_ok=True)
    return train_run(cfg, run, force=True)


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
