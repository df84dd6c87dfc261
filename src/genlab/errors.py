"""User-facing errors: one line saying what is wrong and what to do.

The CLI prints ``genlab: error: <message>`` for any :class:`GenlabError` and exits
non-zero. Internal invariants use ``assert`` instead.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "GenlabError", "TrainingDiverged"]


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
