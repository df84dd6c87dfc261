"""genlab: generative models and representation learning, trained, sampled and
evaluated through one data layer, one trainer and one CLI.

>>> import genlab
>>> cfg = genlab.make_config("pixelwise", overrides={"train.steps": 500})
>>> run = genlab.train_run(cfg, "runs/pix")
>>> model = genlab.load(run)
>>> x = model.sample(16)
"""

from __future__ import annotations

from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.runs import load, load_run, make_config, train_run

__all__ = ["GenlabError", "load", "load_dataset", "load_run", "make_config", "train_run"]
__version__ = "0.1.0"
