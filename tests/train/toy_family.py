"""A tiny family with randomness in its loss (dropout, noise), for trainer tests.

Run as a script it trains one run, optionally killing itself with SIGKILL at a
given step or dumping each DDP rank's final weights:

    python toy_family.py OUT --steps 60 [--kill-at 37] [--resume] [--dump DIR]
        [--sigterm-at STEP --sigterm-rank R] [k=v ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import dataclass

import torch
from safetensors.torch import save_file
from torch import nn

from genlab import registry
from genlab.data.scaling import to_centered, to_index
from genlab.family import Family, NoSamplingOptions


@dataclass(frozen=True)
class ToyConfig:
    hidden: int = 32
    noise: float = 0.3
    nan_at: int = 0  # make the loss NaN at this call (0: never)


class Toy(nn.Module):
    def __init__(self, config: ToyConfig, meta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        d, lv = meta.dims, meta.levels
        self.net = nn.Sequential(
            nn.Linear(d, config.hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(config.hidden, d * lv),
        )
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def _logits(self, x, noise):
        h = to_centered(x, self.meta.levels).flatten(1)
        h = h + noise * torch.randn_like(h)
        return self.net(h).view(len(x), self.meta.dims, self.meta.levels)

    def nll(self, x):
        k = to_index(x, self.meta.levels).flatten(1)
        return nn.functional.cross_entropy(
            self._logits(x, 0.0).transpose(1, 2), k, reduction="none"
        ).sum(1)

    def loss(self, x, y=None, *, step=None):
        self.calls += 1
        k = to_index(x, self.meta.levels).flatten(1)
        logits = self._logits(x, self.config.noise)
        ce = nn.functional.cross_entropy(logits.transpose(1, 2), k)
        extra = torch.tensor(float("nan")) if int(self.calls) == self.config.nan_at else ce * 0
        return ce + extra, {"ce": ce.detach(), "extra": extra.detach()}

    @torch.no_grad()
    def sample(self, n, *, y=None, generator=None):
        return torch.randint(0, self.meta.levels, (n, *self.meta.shape), generator=generator)


FAMILY = Family(name="toy", config=ToyConfig, build=Toy, sampling=NoSamplingOptions)


def register() -> None:
    registry.FAMILIES["toy"] = "toy_family:FAMILY"


def main() -> None:
    sys.path.insert(0, os.path.dirname(__file__))
    register()
    from genlab.config import to_dict
    from genlab.runs import make_config, read_config, train_run

    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--kill-at", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--dump")
    p.add_argument("--sigterm-at", type=int, default=0, help="SIGTERM to itself at this step")
    p.add_argument("--sigterm-rank", type=int, default=0, help="... on this DDP rank only")
    args, extra = p.parse_known_args()
    overrides = dict(e.split("=", 1) for e in extra)
    overrides.setdefault("train.steps", str(args.steps))
    overrides.setdefault("train.progress", "false")
    if args.resume:
        cfg, _ = read_config(args.out)
        base = {k: v for k, v in to_dict(cfg).items() if k != "family"}
        cfg = make_config("toy", base=base)
    else:
        cfg = make_config("toy", overrides=overrides)
    callbacks = []
    if args.kill_at:
        callbacks.append(
            lambda step, _t: os.kill(os.getpid(), signal.SIGKILL) if step == args.kill_at else None
        )
    if args.sigterm_at and int(os.environ.get("RANK", "0")) == args.sigterm_rank:
        callbacks.append(
            lambda step, _t: (
                os.kill(os.getpid(), signal.SIGTERM) if step == args.sigterm_at else None
            )
        )
    holder = {}
    if args.dump:
        import genlab.train.trainer as tr

        original = tr.Trainer.fit

        def fit(self):
            result = original(self)
            rank = int(os.environ.get("RANK", "0"))
            state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
            save_file(state, os.path.join(args.dump, f"rank{rank}.safetensors"))
            holder["done"] = True
            return result

        tr.Trainer.fit = fit
    from genlab.errors import TrainingStopped

    try:
        train_run(cfg, args.out, resume=args.resume, callbacks=callbacks)
    except TrainingStopped as stop:
        sys.exit(128 + stop.signum)


if __name__ == "__main__":
    main()
