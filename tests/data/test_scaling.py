"""Levels <-> model space: the range check of to_index, and that it stays out of a
compiled graph."""

from __future__ import annotations

import pytest
import torch

from genlab.data.scaling import from_centered, to_centered, to_index


def test_to_index_rounds_floats_and_refuses_values_outside_the_levels():
    assert torch.equal(to_index(torch.tensor([0.0, 2.4, 2.6]), 4), torch.tensor([0, 2, 3]))
    with pytest.raises(AssertionError, match="outside 0..3"):
        to_index(torch.tensor([0, 4]), 4)
    with pytest.raises(AssertionError, match="min -1"):
        to_index(torch.tensor([-1, 2]), 4)


def test_centered_round_trip():
    k = torch.arange(256)
    assert torch.equal(from_centered(to_centered(k, 256), 256), k)


def test_to_index_does_not_break_a_compiled_graph():
    """The range check reads values back (a graph break under torch.compile); compiled
    code skips it, so a model's loss can compile as one graph (fullgraph=True raises
    on any break)."""

    def f(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (to_centered(to_index(x, 256), 256) * w).sum()

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    x = torch.randint(0, 256, (4, 8), dtype=torch.uint8)
    w = torch.randn(8)
    torch.testing.assert_close(compiled(x, w), f(x, w))
