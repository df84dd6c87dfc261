"""Runs: build a config, train into a run folder, and load a trained model back.

A run folder describes itself (:mod:`genlab.train.run_folder` owns its files): the
resolved config with the data's metadata plus safetensors weights, so :func:`load`
rebuilds the model with neither trainer nor data.

- :mod:`genlab.runs.config`: config layering, a run's saved config, its data;
- :mod:`genlab.runs.training`: :func:`train_run`;
- :mod:`genlab.runs.loading`: :func:`load_run`, :func:`load`, :func:`build_model`.
"""

from __future__ import annotations

from genlab.runs.config import load_data, make_config, read_config, resume_config
from genlab.runs.loading import LoadedRun, Weights, build_model, load, load_run
from genlab.runs.training import train_run

__all__ = [
    "LoadedRun",
    "Weights",
    "build_model",
    "load",
    "load_data",
    "load_run",
    "make_config",
    "read_config",
    "resume_config",
    "train_run",
]
