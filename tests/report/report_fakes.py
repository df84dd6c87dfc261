"""A fake study for the report tests: instant, with figures and text that needs escaping."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from PIL import Image

from genlab.errors import TrainingDiverged
from genlab.studies import Figure, Study, StudyResult, Table
from genlab.studies.checks import fact

NASTY = '<script>alert("x")</script> & "quoted" \'single\' <b>bold</b>'


def _png(path: Path, color: tuple[int, int, int]) -> None:
    Image.new("RGB", (40, 30), color).save(path)


def run_fake(budget: str, out: Path, device: str, data: str) -> StudyResult:
    _png(out / "one.png", (200, 30, 30))
    _png(out / "two.png", (30, 30, 200))
    return StudyResult(
        study="fake",
        question=f"Does escaping work? {NASTY}",
        claim=f"Text is escaped: {NASTY}",
        summary="a see http://example.com/x in text is fine; only src/href matter",
        evidence={"tiny": 1.5e-15, "big": 123456789.0, "plain": 2.4376, "missing": None},
        checks={"plain_positive": fact(2.4376, f"plain > 0 {NASTY}")},
        tables=[Table(f"table {NASTY}", ["name", "value"], [[NASTY, 1.0], ["n", None]], NASTY)],
        figures=[Figure("one.png", f"first {NASTY}"), Figure("two.png", "second")],
        protocol={
            "budget_seen": budget,
            "data_seen": data,
            "device_seen": device,
            "dims": [2, 4],
            "threads_seen": torch.get_num_threads(),
            "started": time.monotonic(),  # one clock across processes: their start order
        },
    )


def run_broken(budget: str, out: Path, device: str, data: str) -> StudyResult:
    raise TrainingDiverged("training diverged at step 3: loss = nan")


FAKE = Study(name="fake", question="q", claim="c", run=run_fake)
BROKEN = Study(name="broken", question="q", claim="c", run=run_broken)
FAKE2 = Study(name="fake2", question="q", claim="c", run=run_fake)


def child_runner(name: str, budget: str, out: Path, device: str, data: str) -> str:
    """genlab report's worker, in a spawned process that knows the fake studies."""
    from genlab import registry
    from genlab.report import build

    registry.STUDIES["fake"] = "report_fakes:FAKE"
    registry.STUDIES["broken"] = "report_fakes:BROKEN"
    registry.STUDIES["fake2"] = "report_fakes:FAKE2"
    return build._run_child(name, budget, out, device, data)  # type: ignore[arg-type]
