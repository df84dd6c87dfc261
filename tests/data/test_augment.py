"""Batch augmentations: shape/dtype/range contract, seeding, identities, and the geometry and
statistics checked against independent truth (torch.roll, torch.rot90, linear ramps)."""

import math

import pytest
import torch

from genlab.data.augment import (
    AugmentConfig,
    affine_jitter,
    affine_matrix,
    augment,
    color_jitter,
    cutout,
    default_augment,
    elastic,
    gaussian_noise,
    hflip,
    random_resized_crop,
    rotate,
    translate,
    two_views,
    warp,
)
from genlab.errors import ConfigError
from genlab.registry import DATASETS, resolve

AUGS = {
    "crop": lambda x, **kw: random_resized_crop(x, (0.3, 1.0), **kw),
    "flip": lambda x, **kw: hflip(x, 0.5, **kw),
    "jitter": lambda x, **kw: affine_jitter(x, 15.0, 0.2, 10.0, 0.1, **kw),
    "translate": lambda x, **kw: translate(x, 0.2, **kw),
    "rotate": lambda x, **kw: rotate(x, 20.0, **kw),
    "elastic": lambda x, **kw: elastic(x, 1.0, 1.5, **kw),
    "noise": lambda x, **kw: gaussian_noise(x, 0.3, **kw),
    "cutout": lambda x, **kw: cutout(x, 3, **kw),
    "color": lambda x, **kw: color_jitter(x, 0.8, 0.8, 0.8, **kw),
    "digits": lambda x, **kw: augment(x, default_augment("digits"), **kw),
    "cifar10": lambda x, **kw: augment(x, default_augment("cifar10"), **kw),
    "generic": lambda x, **kw: augment(x, default_augment("mnist"), **kw),
    "fashion": lambda x, **kw: augment(x, default_augment("fashion-mnist"), **kw),
    "elastic_pipe": lambda x, **kw: augment(x, AugmentConfig(elastic_alpha=1.0, scale=0.2), **kw),
}
SHAPES = [(6, 1, 8, 8), (6, 3, 32, 32)]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(shape, lo=-1.0, hi=1.0, seed=1, dtype=torch.float32):
    """Random values in [lo, hi] with both extremes present."""
    x = torch.rand(shape, generator=gen(seed), dtype=dtype) * (hi - lo) + lo
    x[..., 0, 0], x[..., -1, -1] = lo, hi
    return x


@pytest.mark.parametrize("shape", SHAPES, ids=["digits", "cifar"])
@pytest.mark.parametrize("name", AUGS)
def test_shape_dtype_range_and_seeding(name, shape):
    for dtype, (lo, hi) in [(torch.float32, (-1.0, 1.0)), (torch.float64, (0.0, 1.0))]:
        x = image(shape, lo, hi, dtype=dtype)
        y = AUGS[name](x, generator=gen(0), value_range=(lo, hi))
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert y.min() >= lo and y.max() <= hi
        assert torch.equal(y, AUGS[name](x, generator=gen(0), value_range=(lo, hi)))
        if name != "color" or shape[1] == 3:  # colour jitter leaves grey images alone
            assert not torch.equal(y, AUGS[name](x, generator=gen(1), value_range=(lo, hi)))


@pytest.mark.parametrize("name", [n for n in AUGS if n != "flip"])
def test_each_sample_draws_its_own_parameters(name):
    x = image((1, 3, 32, 32)).expand(16, 3, 32, 32).contiguous()
    y = AUGS[name](x, generator=gen(0)).flatten(1)
    assert len(torch.unique(y, dim=0)) >= 12, name  # cutout positions may collide


def test_flip_is_exact_and_per_sample():
    x = image((64, 1, 8, 8))
    y = hflip(x, 0.5, generator=gen(0))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert torch.equal(flipped | (y == x).flatten(1).all(1), torch.ones(64, dtype=torch.bool))
    assert 16 < flipped.sum() < 48
    assert torch.equal(augment(x, AugmentConfig(flip_prob=1.0), generator=gen(0)), x.flip(-1))


def test_zero_strengths_are_the_identity():
    x, kw = image((4, 3, 32, 32)), {"generator": gen(0)}
    close = [
        random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), **kw),
        affine_jitter(x, 0.0, 0.0, 0.0, 0.0, **kw),
        translate(x, 0.0, **kw),
        rotate(x, 0.0, **kw),
        elastic(x, 0.0, **kw),
        hflip(x, 0.0, **kw),
        color_jitter(x, 0.0, 0.0, 0.0, **kw),
    ]
    for y in close:
        torch.testing.assert_close(y, x, atol=1e-6, rtol=0)
    for y in [
        gaussian_noise(x, 0.0, **kw),
        cutout(x, 3, 0.0, **kw),
        augment(x, AugmentConfig(), **kw),
    ]:
        assert torch.equal(y, x)
    assert torch.equal(augment(x, AugmentConfig(crop_ratio=(1.0, 1.0)), **kw), x)


def test_integer_translation_matches_roll_with_fill():
    x, lo = image((5, 2, 6, 9)), -1.0  # non-square: x and y axes must not be swapped
    shifts = torch.tensor([[1, 2], [-3, 0], [0, -1], [4, 5], [-2, 3]])  # (dx, dy) pixels
    y = warp(x, affine_matrix((6, 9), torch.zeros(5, dtype=torch.float64), shift=shifts.double()))
    for i, (dx, dy) in enumerate(shifts.tolist()):
        want = torch.roll(x[i], (dy, dx), dims=(1, 2))
        rows, cols = torch.arange(6) - dy, torch.arange(9) - dx
        inside = ((rows >= 0) & (rows < 6))[:, None] & ((cols >= 0) & (cols < 9))[None, :]
        torch.testing.assert_close(y[i], torch.where(inside, want, lo), atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [1, -1, 2])
def test_rotation_by_quarter_turns_matches_rot90(k):
    x = image((3, 2, 8, 8))
    angle = torch.full((3,), k * math.pi / 2, dtype=torch.float64)
    y = warp(x, affine_matrix((8, 8), angle))  # positive angle: counter-clockwise on screen
    torch.testing.assert_close(y, torch.rot90(x, k, dims=(-2, -1)), atol=1e-5, rtol=0)


def ramp(shape, a=0.2, b=0.05):
    """x = a * col + b * row - 0.9: bilinear resampling reproduces a linear image exactly."""
    n, c, h, w = shape
    return (a * torch.arange(w) + b * torch.arange(h)[:, None] - 0.9).expand(n, c, h, w).double()


@pytest.mark.parametrize(("ratio", "sx", "sy"), [(1.0, 0.5, 0.5), (4.0, 1.0, 0.25)])
def test_crop_scale_and_ratio_set_the_zoom(ratio, sx, sy):
    y = random_resized_crop(ramp((8, 1, 8, 8)), (0.25, 0.25), (ratio, ratio), generator=gen(0))
    torch.testing.assert_close(y.diff(dim=3), torch.full_like(y.diff(dim=3), 0.2 * sx))
    torch.testing.assert_close(y.diff(dim=2), torch.full_like(y.diff(dim=2), 0.05 * sy))


def test_elastic_displacement_has_the_requested_rms():
    x = ramp((64, 1, 32, 32), a=0.02, b=0.0)  # value change = 0.02 * horizontal displacement
    y = elastic(x, 1.0, 2.0, generator=gen(0))
    dx = ((y - x) / 0.02)[..., 6:-6, 6:-6]  # away from the padding at the borders
    assert abs(dx.std().item() - 1.0) < 0.15 and abs(dx.mean().item()) < 0.1


@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 1.0), (0.0, 1.0)])
def test_gaussian_noise_has_the_requested_std(lo, hi):
    x = torch.full((64, 3, 32, 32), (lo + hi) / 2)
    y = gaussian_noise(x, 0.05, generator=gen(0), value_range=(lo, hi)) - x
    assert abs(y.std().item() / (0.05 * (hi - lo) / 2) - 1) < 0.02 and abs(y.mean()) < 1e-3


def test_cutout_sets_exactly_one_square_to_the_fill():
    x = image((32, 3, 8, 8)).clamp(min=-0.99)  # no pixel already at the fill value
    hole = cutout(x, 3, generator=gen(0)) == -1.0  # (B, C, H, W)
    assert torch.equal(hole, hole[:, :1].expand_as(hole))  # every channel
    assert torch.equal(hole.flatten(1).sum(1), torch.full((32,), 27))
    rows, cols = hole[:, 0].any(2), hole[:, 0].any(1)
    assert torch.equal(rows.sum(1), torch.full((32,), 3)) and torch.equal(cols.sum(1), rows.sum(1))


def test_brightness_multiplies_the_offset_from_lo():
    x = (torch.rand(32, 3, 16, 16, generator=gen(1)) * 0.4 + 0.1) * 2 - 1  # u in [0.1, 0.5]
    y = color_jitter(x, 0.4, 0.0, 0.0, generator=gen(0))
    factor = (y + 1) / (x + 1)  # (y - lo) = b * (x - lo), one b per sample
    b = factor.flatten(1).mean(1)
    torch.testing.assert_close(factor, b.view(-1, 1, 1, 1).expand_as(factor))
    assert b.min() >= 0.6 and b.max() <= 1.4 and len(b.unique()) == 32


def test_colour_jitter_leaves_grey_alone_and_rejects_other_channel_counts():
    x = image((4, 1, 8, 8))
    assert torch.equal(color_jitter(x, generator=gen(0)), x)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        color_jitter(image((4, 2, 8, 8)), generator=gen(0))
    with pytest.raises(ValueError, match="float"):
        augment(x.long(), AugmentConfig(), generator=gen(0))


def test_defaults_differ_per_dataset():
    digits, cifar, mnist = (default_augment(n) for n in ("digits", "cifar10", "mnist"))
    assert digits.flip_prob == 0 and digits.brightness == 0 and digits.crop_scale == (0.7, 1.0)
    assert cifar.flip_prob > 0 and cifar.brightness > 0 and cifar.rotate_degrees == 0
    assert cifar.crop_scale == (0.2, 1.0) and mnist.flip_prob == 0
    fashion = default_augment("fashion-mnist")  # clothes: mirror images keep the class
    assert fashion.flip_prob == 0.5 and fashion.rotate_degrees == 0 and mnist.rotate_degrees > 0
    assert default_augment("folder:/some/path") == mnist
    assert default_augment("not-a-dataset") == mnist
    with pytest.raises(ConfigError, match="probability"):
        AugmentConfig(flip_prob=1.5)
    with pytest.raises(ConfigError, match="noise_std"):
        AugmentConfig(noise_std=-0.1)


def test_two_views_are_independent_and_seeded():
    x = image((8, 3, 32, 32))
    a, b = two_views(x, default_augment("cifar10"), generator=gen(0))
    assert a.shape == b.shape == x.shape and not torch.equal(a, b)
    a2, b2 = two_views(x, default_augment("cifar10"), generator=gen(0))
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_each_image_dataset_entry_states_its_policy():
    for name, entry in DATASETS.items():
        if entry.shape.count("x") == 2:  # images (C x H x W)
            assert entry.augment is not None, name
            assert isinstance(resolve(entry.augment), AugmentConfig), name
            assert default_augment(name) is resolve(entry.augment), name
    assert DATASETS["toy2d"].augment is None  # vectors are never augmented
