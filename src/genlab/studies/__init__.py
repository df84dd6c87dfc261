"""Studies: one module per question the toolkit answers with an experiment.

Each registered study (``genlab.registry.STUDIES``) states a claim, measures the
evidence and gives a verdict; ``genlab study NAME`` runs one, ``genlab report`` all.
"""

from __future__ import annotations

from genlab.studies.base import (
    RESULTS_FILE,
    Budget,
    Figure,
    Study,
    StudyResult,
    Table,
    get_study,
    read_result,
    run_study,
    study_names,
)
from genlab.studies.checks import Verdict

__all__ = [
    "RESULTS_FILE",
    "Budget",
    "Figure",
    "Study",
    "StudyResult",
    "Table",
    "Verdict",
    "get_study",
    "read_result",
    "run_study",
    "study_names",
]
