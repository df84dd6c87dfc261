"""Seeded 2-D toy distributions: moons, circles, 8gaussians, checkerboard, pinwheel, 2spirals.

Each generator is a pure function ``(n, generator) -> (n, 2)`` float32 tensor,
with points roughly inside ``[-4, 4]^2`` (the usual toy sets of FFJORD,
Grathwohl et al. 2019). The training split holds ``opts.toy_samples`` points,
the test split a quarter as many, drawn from a separate seed stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genlab.data.dataset import DataMeta, Dataset, LoadOptions, Split
from genlab.errors import DataError
from genlab.registry import unknown_name

__all__ = [
    "GENERATORS",
    "checkerboard",
    "circles",
    "eight_gaussians",
    "load_toy2d",
    "moons",
    "pinwheel",
    "two_spirals",
]


def _randn(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, 2, generator=g)


def _unit(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g)


def moons(n: int, generator: torch.Generator) -> torch.Tensor:
    """Two interleaved half circles with noise 0.1, scaled by 2: (n, 2)."""
    upper = torch.randint(0, 2, (n,), generator=generator).bool()
    t = _unit(n, generator) * math.pi
    x = torch.where(upper, torch.cos(t), 1.0 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x, y], 1) + 0.1 * _randn(n, generator)
    return pts * 2.0 + torch.tensor([-1.0, -0.2])


def circles(n: int, generator: torch.Generator) -> torch.Tensor:
    """Two concentric circles of radius 3 and 1.5 with noise 0.24: (n, 2)."""
    outer = torch.randint(0, 2, (n,), generator=generator).bool()
    t = _unit(n, generator) * (2 * math.pi)
    r = torch.where(outer, 1.0, 0.5)
    pts = r[:, None] * torch.stack([torch.cos(t), torch.sin(t)], 1)
    return 3.0 * (pts + 0.08 * _randn(n, generator))


def eight_gaussians(n: int, generator: torch.Generator) -> torch.Tensor:
    """Eight Gaussians (std 0.5) on a circle of radius 4, divided by sqrt(2): (n, 2)."""
    k = torch.randint(0, 8, (n,), generator=generator)
    angle = k.double() * (2 * math.pi / 8)
    centers = 4.0 * torch.stack([torch.cos(angle), torch.sin(angle)], 1).float()
    return (centers + 0.5 * _randn(n, generator)) / math.sqrt(2.0)


def checkerboard(n: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform on the dark squares of a 4x4 checkerboard over [-4, 4]^2: (n, 2)."""
    x1 = _unit(n, generator) * 4 - 2
    x2 = _unit(n, generator) - torch.randint(0, 2, (n,), generator=generator) * 2.0
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], 1) * 2.0


def pinwheel(n: int, generator: torch.Generator) -> torch.Tensor:
    """Five curved arms (radial std 0.3, tangential std 0.1, rate 0.25), scaled by 2: (n, 2)."""
    arms, rate = 5, 0.25
    k = torch.randint(0, arms, (n,), generator=generator)
    feats = _randn(n, generator) * torch.tensor([0.3, 0.1]) + torch.tensor([1.0, 0.0])
    angle = k.float() * (2 * math.pi / arms) + rate * torch.exp(feats[:, 0])
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (n, 2, 2)
    return 2.0 * torch.einsum("nij,nj->ni", rot, feats)


def two_spirals(n: int, generator: torch.Generator) -> torch.Tensor:
    """Two interleaved spirals (1.5 turns) with noise 0.1, divided by 3: (n, 2)."""
    t = torch.sqrt(_unit(n, generator)) * (3 * math.pi)
    arm = torch.where(torch.randint(0, 2, (n,), generator=generator).bool(), 1.0, -1.0)
    x = -torch.cos(t) * t + _unit(n, generator) * 0.5
    y = torch.sin(t) * t + _unit(n, generator) * 0.5
    pts = arm[:, None] * torch.stack([x, y], 1) / 3.0
    return pts + 0.1 * _randn(n, generator)


GENERATORS: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "moons": moons,
    "circles": circles,
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "pinwheel": pinwheel,
    "2spirals": two_spirals,
}


def load_toy2d(arg: str | None, opts: LoadOptions) -> Dataset:
    """``toy2d:NAME``: float32 train (toy_samples, 2) and test (toy_samples // 4, 2), no labels.

    Train uses seed stream ``2 * seed``, test ``2 * seed + 1``, so they never share draws.
    """
    if arg not in GENERATORS:
        raise DataError(str(unknown_name("toy2d set", str(arg), list(GENERATORS))))
    if opts.toy_samples < 1:
        raise DataError(f"data.toy_samples must be at least 1, got {opts.toy_samples}")
    make = GENERATORS[arg]
    train = make(opts.toy_samples, torch.Generator().manual_seed(2 * opts.seed))
    test = make(max(1, opts.toy_samples // 4), torch.Generator().manual_seed(2 * opts.seed + 1))
    assert train.shape == (opts.toy_samples, 2) and train.dtype == torch.float32, train.shape
    meta = DataMeta(name=f"toy2d:{arg}", shape=(2,), levels=None, num_classes=None)
    return Dataset(meta, Split(train.contiguous()), Split(test.contiguous()))
