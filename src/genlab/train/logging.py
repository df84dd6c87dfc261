"""Training logs: JSONL (always), TensorBoard (when installed), on rank 0 only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genlab.atomic import write_atomic

__all__ = ["RunLogger"]


class RunLogger:
    """Appends one JSON object per record to the run's log (``path``; None logs nothing).

    Records carry ``step`` and ``kind`` ("train", "val", "time", "event"); on resume the
    lines written after the checkpoint's step are dropped, so the log reads as one
    uninterrupted run.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        tensorboard: Path | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.path = path
        self._tb: Any = None
        if self.path is None:
            return
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
        if tensorboard is None:
            return
        try:  # optional dependency
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(tensorboard))
        except ImportError:
            self._tb = None

    def _truncate_after(self, step: int) -> None:
        assert self.path is not None
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
                # a "time" record totals one segment; the resumed run writes the new total
                if record.get("step", 0) <= step and record.get("kind") != "time":
                    keep.append(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
        write_atomic(self.path, "".join(f"{line}\n" for line in keep))

    def log(self, step: int, kind: str, values: dict[str, float]) -> None:
        if self.path is None:
            return
        record = {"step": step, "kind": kind, **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
