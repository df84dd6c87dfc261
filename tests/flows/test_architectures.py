"""Which architecture each preset builds by image size: large images (28x28, 3x32x32)
get multi-scale flows whose conditioners never run at full resolution, small ones
(8x8 digits) keep their flattened couplings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.flows import FlowConfig
from genlab.flows.architectures import FLAT_MAX, build_flow
from genlab.flows.transforms import Flatten, MaskedCoupling, Split, Squeeze

PRESETS = ["realnvp", "glow", "nsf"]


def _conv_input_sizes(flow: nn.Module, x: torch.Tensor) -> set[tuple[int, int]]:
    """(H, W) of every Conv2d input during one forward pass."""
    seen: set[tuple[int, int]] = set()
    hooks = [
        m.register_forward_pre_hook(lambda _m, args: seen.add(tuple(args[0].shape[2:])))
        for m in flow.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        flow(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_large_images_are_multiscale_below_full_resolution(preset, shape):
    cfg = FlowConfig(preset=preset, steps=1, channels=8, blocks=1)
    flow = build_flow(preset, shape, cfg)
    kinds = {type(m) for m in flow.modules()}
    assert Flatten not in kinds and {Squeeze, Split} <= kinds
    sizes = _conv_input_sizes(flow, torch.randn(2, *shape))
    assert sizes and max(h for h, _ in sizes) <= shape[1] // 2, sizes


@pytest.mark.parametrize("preset", ["realnvp", "nsf"])
def test_small_images_stay_flat(preset):
    assert 64 <= FLAT_MAX
    flow = build_flow(preset, (1, 8, 8), FlowConfig(preset=preset))
    kinds = {type(m) for m in flow.modules()}
    assert Flatten in kinds and nn.Conv2d not in kinds


@pytest.mark.parametrize("preset", ["realnvp", "nsf"])
def test_conditioner_option_overrides_the_size_rule(preset):
    """``model.conditioner=mlp`` flattens a large image (the peers' flat NSF), ``conv``
    makes a small one multi-scale."""
    flat = build_flow(preset, (1, 28, 28), FlowConfig(preset=preset, conditioner="mlp", hidden=8))
    kinds = {type(m) for m in flat.modules()}
    assert Flatten in kinds and nn.Conv2d not in kinds
    conv = build_flow(preset, (1, 8, 8), FlowConfig(preset=preset, conditioner="conv", channels=8))
    kinds = {type(m) for m in conv.modules()}
    assert Flatten not in kinds and {Squeeze, nn.Conv2d} <= kinds


def test_nsf_on_28x28_is_small():
    """The flattened NSF had 19.9M parameters at 28x28 (an MLP of 256 units writing 23
    spline parameters for each of 392 values, in 8 couplings)."""
    flow = build_flow("nsf", (1, 28, 28), FlowConfig(preset="nsf"))
    assert sum(p.numel() for p in flow.parameters()) < 3_000_000


@pytest.mark.parametrize("preset", PRESETS)
def test_multiscale_presets_run_steps_couplings_per_level(preset):
    """28x28: two levels (14x14, then 7x7, odd), ``steps`` couplings each, so one
    ``model.steps`` costs about the same in every preset."""
    flow = build_flow(preset, (1, 28, 28), FlowConfig(preset=preset, steps=3, scales=4))
    couplings = [m for m in flow.modules() if isinstance(m, MaskedCoupling)]
    assert len(couplings) == 2 * 3
    assert sorted({tuple(c.mask.shape) for c in couplings}) == [(4, 14, 14), (8, 7, 7)]
