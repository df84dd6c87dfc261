"""Coupling masks: shapes, complementary pairs and the checkerboard pattern."""

from __future__ import annotations

import torch

from genlab.flows.transforms import alternating_mask, channel_mask, checkerboard_mask, half_mask


def test_vector_masks_complement_and_values():
    assert half_mask(5).tolist() == [1, 1, 0, 0, 0]
    assert alternating_mask(5).tolist() == [1, 0, 1, 0, 1]
    for d in (1, 2, 5, 6):
        assert torch.equal(half_mask(d) + half_mask(d, flip=True), torch.ones(d))
        assert torch.equal(alternating_mask(d, 0) + alternating_mask(d, 1), torch.ones(d))


def test_image_masks_complement_and_pattern():
    board = checkerboard_mask(3, 4, 5, parity=0)
    assert board.shape == (3, 4, 5)
    assert board[0].tolist()[:2] == [[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]]
    assert torch.equal(board[0], board[2])
    ones = torch.ones(3, 4, 5)
    assert torch.equal(board + checkerboard_mask(3, 4, 5, parity=1), ones)
    chan = channel_mask(4, 2, 3)
    assert chan[:2].eq(1).all() and chan[2:].eq(0).all()
    assert torch.equal(chan + channel_mask(4, 2, 3, flip=True), torch.ones(4, 2, 3))
