"""Pretext tasks: rotation labels against torch.rot90, masks, and the masked-only loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.data import load_dataset
from genlab.data.dataset import DataMeta
from genlab.data.scaling import to_centered
from genlab.errors import ConfigError
from genlab.ssl.pretext import (
    MaskedConfig,
    RotationConfig,
    build_masked,
    build_rotation,
    masked_mse,
    patch_mask,
    rotations,
)

DIGITS = DataMeta("digits", (1, 8, 8), 17, 10)
TINY = {"embed_dim": 8, "channels": 4}


def l_shape() -> torch.Tensor:
    """A 1x4x4 'L' (column 0 and the bottom row): no quarter turn maps it onto itself."""
    img = torch.zeros(1, 4, 4)
    img[0, :, 0] = 1.0
    img[0, 3, :] = 1.0
    return img


def test_rotation_labels_match_torch_rot90_on_an_asymmetric_image():
    x = torch.stack([l_shape(), 2 * l_shape().transpose(1, 2)])  # (2, 1, 4, 4)
    turned, labels = rotations(x)
    assert turned.shape == (8, 1, 4, 4) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for i in range(8):
        k, n = int(labels[i]), i % 2
        assert torch.equal(turned[i], torch.rot90(x[n], k, dims=(-2, -1)))
    # by hand, counter-clockwise: the bottom row becomes the right column and the left
    # column the bottom row (an L turned a quarter is a mirrored L)
    want = torch.zeros(4, 4)
    want[:, 3] = 1.0
    want[3, :] = 1.0
    assert torch.equal(turned[2, 0], want)
    # the four copies of one image are all different: the labels are learnable
    assert len({tuple(turned[i].flatten().tolist()) for i in (0, 2, 4, 6)}) == 4


def test_rotation_loss_is_the_cross_entropy_of_the_four_turns():
    torch.manual_seed(0)
    m = build_rotation(RotationConfig(**TINY), DIGITS).eval()  # eval: no augmentation
    x = load_dataset("digits").train.x[:5]
    loss, terms = m.loss(x)
    h = to_centered(x, 17)
    logits = torch.cat([m.head(m.encoder(torch.rot90(h, k, dims=(-2, -1)))) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(5)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    assert float(terms["accuracy"]) == pytest.approx(
        float((logits.argmax(1) == labels).float().mean())
    )


@pytest.mark.parametrize(("ratio", "patch"), [(0.5, 1), (0.5, 2), (0.25, 3), (0.75, 4)])
def test_patch_mask_hides_exactly_the_ratio_of_whole_patches(ratio, patch):
    shape = (1, 8, 8)
    mask = patch_mask(50, shape, ratio, patch, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (50, 1, 8, 8) and mask.dtype == torch.bool
    side = math.ceil(8 / patch)
    cells = mask[:, 0, ::patch, ::patch]  # one pixel per patch: the top-left one
    assert (cells.flatten(1).sum(1) == round(ratio * side * side)).all()
    # every pixel carries the value of its patch
    up = cells.repeat_interleave(patch, 1).repeat_interleave(patch, 2)[:, :8, :8]
    assert torch.equal(mask[:, 0], up)
    # every patch gets masked in some example: the positions are not fixed
    assert cells.any(0).all()


def test_vector_masks_count_entries():
    mask = patch_mask(20, (10,), 0.3, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (20, 10) and (mask.sum(1) == 3).all()


def test_masked_mse_against_a_loop():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    mask = torch.rand(3, 1, 4, 4, generator=g) < 0.4
    total, count = 0.0, 0
    for n in range(3):
        for c in range(2):
            for i in range(4):
                for j in range(4):
                    if mask[n, 0, i, j]:
                        total += float(pred[n, c, i, j] - target[n, c, i, j]) ** 2
                        count += 1
    assert float(masked_mse(pred, target, mask)) == pytest.approx(total / count, rel=1e-6)


def test_masked_loss_counts_only_the_masked_pixels():
    torch.manual_seed(0)
    cfg = MaskedConfig(**TINY, decoder_hidden=16, mask_ratio=0.5, patch=2)
    m = build_masked(cfg, DIGITS).eval()  # eval: no augmentation, only the mask
    x = load_dataset("digits").train.x[:6]
    loss, terms = m.loss(x, generator=torch.Generator().manual_seed(4))
    mask = patch_mask(6, (1, 8, 8), 0.5, 2, generator=torch.Generator().manual_seed(4))
    h = to_centered(x, 17)
    pred = m.reconstruct(h, mask)
    # the encoder saw the fill value where masked and the image elsewhere
    seen = torch.where(mask, m.fill.view(1, -1, 1, 1), h)
    torch.testing.assert_close(pred, m.decoder(m.encoder(seen)).view(6, 1, 8, 8))
    err = (pred - h) ** 2
    torch.testing.assert_close(loss, err[mask].mean())
    torch.testing.assert_close(terms["visible_mse"], err[~mask].mean())
    # the loss ignores the visible pixels: any target there gives the same value
    other = torch.where(mask, h, torch.randn_like(h))
    torch.testing.assert_close(masked_mse(pred, other, mask), loss)


def test_masked_works_on_vectors():
    torch.manual_seed(0)
    meta = DataMeta("toy2d:moons", (4,), None, None)
    m = build_masked(MaskedConfig(embed_dim=8, hidden=16, decoder_hidden=16), meta)
    loss, _ = m.loss(torch.randn(10, 4))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert m.embed(torch.randn(3, 4)).shape == (3, 8)


def test_pretext_option_errors_are_one_line():
    with pytest.raises(ConfigError, match="square images"):
        build_rotation(RotationConfig(), DataMeta("folder:x", (3, 8, 6), 256, None))
    with pytest.raises(ConfigError, match="square images"):
        build_rotation(RotationConfig(), DataMeta("toy2d:moons", (2,), None, None))
    with pytest.raises(ConfigError, match="model.mask_ratio"):
        build_masked(MaskedConfig(mask_ratio=1.0), DIGITS)
    with pytest.raises(ConfigError, match="model.patch"):
        build_masked(MaskedConfig(patch=0), DIGITS)
