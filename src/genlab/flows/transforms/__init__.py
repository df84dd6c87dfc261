"""Invertible transforms of normalizing flows, each returning ``(output, logdet)``."""

from __future__ import annotations

from genlab.flows.transforms.actnorm import ActNorm
from genlab.flows.transforms.base import Compose, Inverse, Transform, sum_per_example
from genlab.flows.transforms.checker import checker_join, checker_split, gatherable
from genlab.flows.transforms.conv1x1 import InvertibleConv1x1
from genlab.flows.transforms.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    MaskedCoupling,
    conditioner_input,
    conditioner_sizes,
)
from genlab.flows.transforms.elementwise import Logit, ScalarAffine
from genlab.flows.transforms.masks import (
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
)
from genlab.flows.transforms.multiscale import Split
from genlab.flows.transforms.permutation import Permutation
from genlab.flows.transforms.reshape import Flatten, Squeeze, Unsqueeze
from genlab.flows.transforms.splines import SplineCoupling, rq_spline

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "Compose",
    "Flatten",
    "Inverse",
    "InvertibleConv1x1",
    "Logit",
    "MaskedCoupling",
    "Permutation",
    "ScalarAffine",
    "SplineCoupling",
    "Split",
    "Squeeze",
    "Transform",
    "Unsqueeze",
    "alternating_mask",
    "channel_mask",
    "checker_join",
    "checker_split",
    "checkerboard_mask",
    "conditioner_input",
    "conditioner_sizes",
    "gatherable",
    "half_mask",
    "rq_spline",
    "sum_per_example",
]
