"""Training curves of a run: the ``train`` and ``val`` records of ``metrics.jsonl``,
or, for a run that stopped before writing them, the per-step terms a trainer
callback collected."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from genlab.train.run_folder import RunFolder

__all__ = ["Curves", "StepRecorder", "read_curves"]


@dataclass
class Curves:
    """(step, value) pairs of one metric: ``train`` (means over the logging window)
    and ``val`` (the validation part held out from train)."""

    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)

    def last_train(self) -> float | None:
        return self.train[-1][1] if self.train else None

    def min_train(self) -> float | None:
        return min(v for _, v in self.train) if self.train else None

    def best_val(self) -> tuple[int, float] | None:
        """(step, value) of the lowest validation value."""
        return min(self.val, key=lambda sv: sv[1]) if self.val else None

    def train_at_fraction(self, fraction: float) -> float | None:
        """Train value at the first record at or after ``fraction`` of the last step."""
        if not self.train:
            return None
        target = fraction * self.train[-1][0]
        return next(v for s, v in self.train if s >= target)


def read_curves(run: Path, key: str = "bpd") -> Curves:
    """``key`` from the train and val records of the run's metrics log (finite only)."""
    curves = Curves()
    for rec in RunFolder(run).records():
        value = rec.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if rec.get("kind") == "train":
            curves.train.append((int(rec["step"]), float(value)))
        elif rec.get("kind") == "val":
            curves.val.append((int(rec["step"]), float(value)))
    return curves


class StepRecorder:
    """Trainer callback keeping ``terms[key]`` of every step, so that a run that
    diverges (and is removed before its first checkpoint) still leaves its curve."""

    def __init__(self, key: str = "bpd", window: int = 25) -> None:
        self.key, self.window = key, window
        self.values: list[tuple[int, float]] = []

    def __call__(self, step: int, terms: dict[str, float]) -> None:
        if self.key in terms:
            self.values.append((step, float(terms[self.key])))

    def curves(self) -> Curves:
        """Means over windows of ``window`` steps, finite values only."""
        out = Curves()
        for start in range(0, len(self.values), self.window):
            chunk = [(s, v) for s, v in self.values[start : start + self.window]]
            finite = [v for _, v in chunk if math.isfinite(v)]
            if finite:
                out.train.append((chunk[-1][0], sum(finite) / len(finite)))
        return out
