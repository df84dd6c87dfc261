"""What a run folder holds, in a few lines: the end-of-training summary and ``genlab runs``.

Read only from the folder (config.yaml, trainer_state.pt, metrics.jsonl, samples/), never
by loading the model: steps done of planned, the state (finished, stopped at step N and
resumable, or no checkpoint), the last validation score with the best one, the time spent
training and validating (and the minutes planned with ``--minutes``), the newest sample
grid, and the commands that sample and evaluate it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from genlab.errors import GenlabError
from genlab.runs.config import parse_config
from genlab.train.run_folder import RunFolder

__all__ = ["RunSummary", "find_runs", "next_commands", "summarize", "table"]


@dataclass(frozen=True)
class RunSummary:
    path: Path
    family: str
    data: str
    kind: str  # the family's kind: generative | representation
    steps_done: int
    steps_planned: int
    state: str  # finished | stopped at step N (resumable) | no checkpoint (step N logged)
    val_name: str | None  # bpd (generative) or loss
    val_last: float | None
    val_best: float | None
    best_step: int | None
    seconds: float | None  # training + validation, over every segment of the run
    planned_minutes: float | None
    grid: Path | None

    def lines(self) -> list[str]:
        """The end-of-run summary: what was trained, how it scores, where to look next."""
        minutes = "" if self.seconds is None else f" in {self.seconds / 60:.1f} min"
        if self.planned_minutes:
            minutes += f" (planned {self.planned_minutes:g})"
        out = [
            f"{self.path}: {self.family} on {self.data}, step {self.steps_done} of "
            f"{self.steps_planned}{minutes}; {self.state}"
        ]
        if self.val_last is not None:
            best = "" if self.val_best is None else f", best {self.val_best:.4f}"
            best += "" if self.best_step is None else f" at step {self.best_step}"
            out.append(f"  validation {self.val_name}: {self.val_last:.4f} (last{best})")
        if self.grid is not None:
            out.append(f"  samples: {self.grid}")
        out += [f"  next: {c}" for c in next_commands(self)]
        return out


def summarize(path: str | Path) -> RunSummary:
    """The summary of the run in ``path`` (GenlabError if it is not a run)."""
    from genlab.family import get_family

    folder = RunFolder(path)
    cfg, meta = folder.read_config(parse_config)
    records = folder.records()
    logged = max((r["step"] for r in records if r.get("kind") == "train"), default=0)
    seconds: float | None = None
    if folder.has_checkpoint():
        state_ = folder.read_state()
        done, seconds = state_.step, sum(state_.seconds)
        state = "finished" if done >= cfg.train.steps else f"stopped at step {done} (resumable)"
    else:
        done, state = logged, f"no checkpoint (step {logged} logged; train again with --force)"
    times = [r for r in records if r.get("kind") == "time"]
    if times and done >= cfg.train.steps:
        seconds = times[-1]["train_seconds"] + times[-1]["val_seconds"]
    vals = [r for r in records if r.get("kind") == "val"]
    name = next((k for k in ("bpd", "loss") if vals and k in vals[-1]), None)
    best_step = None
    if vals and name is not None:
        best = min(vals, key=lambda r: r[name])
        best_step = best["step"] if cfg.train.select == "best" else None
    plans = [r for r in records if r.get("kind") == "plan"]
    grids = folder.sample_grids()
    return RunSummary(
        path=folder.path,
        family=cfg.family,
        data=meta.name,
        kind=get_family(cfg.family).kind,
        steps_done=done,
        steps_planned=cfg.train.steps,
        state=state,
        val_name=name,
        val_last=vals[-1][name] if vals and name else None,
        val_best=vals[-1].get("best") if vals else None,
        best_step=best_step,
        seconds=seconds,
        planned_minutes=plans[-1]["minutes"] if plans else None,
        grid=grids[-1] if grids else None,
    )


def next_commands(s: RunSummary) -> list[str]:
    run = shlex.quote(str(s.path))
    if s.state.startswith("no checkpoint"):
        return []
    if s.kind == "generative":
        return [f"genlab sample {run} -n 64 --out samples.png", f"genlab eval {run}"]
    return [f"genlab eval {run}"]


def find_runs(root: str | Path, depth: int = 4) -> list[Path]:
    """Run folders (holding config.yaml) under ``root``, itself included, ``depth`` deep."""
    root = Path(root)
    if not root.is_dir():
        raise GenlabError(f"{root} is not a folder")
    found, level = [], [root]
    for _ in range(depth + 1):
        found += [p for p in level if RunFolder(p).is_run()]
        level = [c for p in level if not RunFolder(p).is_run() for c in sorted(p.iterdir())]
        level = [c for c in level if c.is_dir() and not c.is_symlink()]
    return sorted(found)


def table(summaries: list[RunSummary], root: Path) -> str:
    """``genlab runs``: one line per run, aligned."""
    rows = [("run", "family", "data", "steps", "validation", "minutes", "state")]
    for s in summaries:
        val = "–" if s.val_last is None else f"{s.val_name} {s.val_last:.4f}"
        minutes = "–" if s.seconds is None else f"{s.seconds / 60:.1f}"
        rel = str(s.path.relative_to(root)) if s.path != root else str(s.path)
        steps = f"{s.steps_done}/{s.steps_planned}"
        rows.append((rel, s.family, s.data, steps, val, minutes, s.state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
