"""User-facing errors: one line saying what is wrong and what to do.

The CLI prints ``genlab: error: <message>`` for any :class:`GenlabError` and exits
non-zero. Internal invariants use ``assert`` instead.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "GenlabError",
    "TrainingDiverged",
    "TrainingStopped",
]


class GenlabError(Exception):
    """Base class of every error meant for the user (never a bug)."""


class ConfigError(GenlabError):
    """Unknown key, wrong type or invalid value in a configuration."""


class DataError(GenlabError):
    """A dataset is unknown, absent, or its files are corrupt."""


class CheckpointError(GenlabError):
    """A run folder or checkpoint is missing, incomplete or corrupt."""


class TrainingDiverged(GenlabError):
    """The loss (or one of its terms) became NaN or infinite."""


class TrainingStopped(Exception):
    """Training stopped on a signal after writing a checkpoint at ``step`` (not an error:
    the run resumes from there). ``signum``: the signal; the CLI exits 128 + it."""

    def __init__(self, step: int, steps: int, signum: int) -> None:
        super().__init__(f"stopped at step {step} of {steps}")
        self.step, self.steps, self.signum = step, steps, signum
