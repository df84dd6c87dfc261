"""Batch-wise random image augmentations (SimCLR views, pretext tasks, fine-tuning), and
the augmentation policy of each dataset (:func:`default_augment`).

Every function takes a float batch ``x`` (B, C, H, W) in model space ``value_range = (lo, hi)``
(``[-1, 1]`` from :func:`genlab.data.scaling.to_centered` by default) and returns a tensor of
the same shape, dtype, device and range (clamped). Each sample draws its own parameters from
``generator`` (on the generator's device, then moved to ``x``'s); nothing loops over samples.
Uncovered pixels (padding, cutout) get ``lo``, the background of digit-like images.

Geometry is one resampling: every geometric augmentation is a (B, 3, 3) matrix mapping
*output* to *input* coordinates in ``affine_grid``'s normalised units (``align_corners=False``,
so pixel centres sit at ``(2i + 1) / W - 1`` and the identity, flips and quarter turns of square
images land exactly on pixel centres). Applying A then B samples through ``M_A @ M_B``, so
:func:`augment` composes crop, flip, affine jitter and elastic warp before one ``grid_sample``.
Angles are counter-clockwise as displayed (row 0 on top): +90 degrees equals
``torch.rot90(x, 1, dims=(-2, -1))``. Shifts are in pixels, +x right and +y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Generator, Tensor

from genlab.errors import ConfigError
from genlab.registry import DATASETS, resolve

__all__ = [
    "CENTRED",
    "CIFAR10",
    "CLOTHES",
    "DIGITS",
    "HANDWRITING",
    "AugmentConfig",
    "affine_jitter",
    "affine_matrix",
    "augment",
    "color_jitter",
    "cutout",
    "default_augment",
    "elastic",
    "gaussian_noise",
    "hflip",
    "random_resized_crop",
    "rotate",
    "translate",
    "two_views",
    "warp",
]

Range = tuple[float, float]
CENTRED: Range = (-1.0, 1.0)  # the model-side range of genlab.data.scaling.to_centered
_GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each augmentation of :func:`augment`; a zero (or (1, 1) crop) disables it.

    Sizes are relative (fractions, degrees) except ``cutout_size`` and the elastic pixels;
    ``noise_std`` is the noise std on the range [-1, 1], scaled by (hi - lo) / 2 otherwise.
    """

    crop_scale: Range = (1.0, 1.0)  # area fraction of the crop ~ U; (1, 1): no crop
    crop_ratio: Range = (3 / 4, 4 / 3)  # crop width / height, drawn log-uniformly
    flip_prob: float = 0.0  # horizontal flip
    rotate_degrees: float = 0.0  # angle ~ U(-d, d)
    translate: float = 0.0  # shift ~ U(-t, t) * size
    scale: float = 0.0  # zoom ~ U(1 - s, 1 + s)
    shear_degrees: float = 0.0  # x-shear angle ~ U(-d, d)
    elastic_alpha: float = 0.0  # RMS displacement of the elastic field, in pixels
    elastic_sigma: float = 2.0  # Gaussian smoothing of that field, in pixels
    brightness: float = 0.0  # factor ~ U(1 - b, 1 + b), RGB only, like the two below
    contrast: float = 0.0
    saturation: float = 0.0
    color_prob: float = 1.0  # chance that one sample gets its colour jitter
    noise_std: float = 0.0
    cutout_size: int = 0  # side in pixels of one square per sample set to lo
    cutout_prob: float = 1.0

    def __post_init__(self) -> None:
        (a, b), (r, s) = self.crop_scale, self.crop_ratio
        if not (0 < a <= b <= 1 and 0 < r <= s):
            raise ConfigError(
                f"need 0 < crop_scale <= 1, crop_ratio > 0, each (low, high): {a, b, r, s}"
            )
        negative = [
            f.name for f in fields(self) if f.name[:4] != "crop" and getattr(self, f.name) < 0
        ]
        if negative or self.elastic_sigma <= 0:
            raise ConfigError(f"augment strengths must be >= 0 (elastic_sigma > 0): {negative}")
        for name in ("flip_prob", "color_prob", "cutout_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )


# Policies, named by the datasets' registry entries (``DatasetEntry.augment``).
# fmt: off
# tiny glyphs: mild geometry, no flip (a 2 is not a mirrored 5)
DIGITS = AugmentConfig(crop_scale=(0.7, 1.0), crop_ratio=(0.8, 1.25), rotate_degrees=12.0,
                       translate=0.1, noise_std=0.03, cutout_size=2, cutout_prob=0.5)
# SimCLR (Chen et al. 2020, app. B.9): crop, flip, colour s = 0.5
CIFAR10 = AugmentConfig(crop_scale=(0.2, 1.0), flip_prob=0.5, brightness=0.4, contrast=0.4,
                        saturation=0.4, color_prob=0.8)
# upright clothes filling the frame: crops and mirror images keep the class (a left shoe
# mirrored is a shoe); no turns, which nothing shows
CLOTHES = AugmentConfig(crop_scale=(0.5, 1.0), crop_ratio=(0.75, 4 / 3), flip_prob=0.5,
                        noise_std=0.03)
# MNIST-like grey handwriting: what any dataset without a policy of its own gets
HANDWRITING = AugmentConfig(crop_scale=(0.6, 1.0), crop_ratio=(0.8, 1.25), rotate_degrees=15.0,
                            translate=0.1, shear_degrees=10.0, noise_std=0.03)
# fmt: on


def default_augment(dataset_name: str) -> AugmentConfig:
    """The policy that the dataset's registry entry states (``DatasetEntry.augment``, e.g.
    :data:`DIGITS` for ``digits``); :data:`HANDWRITING` for a name that is no registered
    dataset or an entry without a policy (vectors, which are never augmented)."""
    entry = DATASETS.get(dataset_name.partition(":")[0])
    if entry is None or entry.augment is None:
        return HANDWRITING
    policy = resolve(entry.augment)
    assert isinstance(policy, AugmentConfig), (entry.augment, policy)
    return policy


def _uniform(g: Generator, n: int, low: float, high: float) -> Tensor:
    """(n,) float64 draws ~ U(low, high) on the generator's device (CPU by default)."""
    return low + (high - low) * torch.rand(n, generator=g, device=g.device, dtype=torch.float64)


def _check(x: Tensor) -> None:
    if x.dim() != 4 or not x.is_floating_point():
        msg = f"got {x.dtype} {tuple(x.shape)}; convert with genlab.data.scaling.to_centered"
        raise ValueError(f"augmentations take a float (B, C, H, W) batch, {msg}")


def affine_matrix(
    size: tuple[int, int],
    angle: Tensor,
    zoom: Tensor | None = None,
    shear: Tensor | None = None,
    shift: Tensor | None = None,
) -> Tensor:
    """(B, 3, 3) output->input matrix for content zoomed (B,), x-sheared by ``shear`` (B,)
    radians, rotated by ``angle`` (B,) radians counter-clockwise, then shifted by ``shift``
    (B, 2) pixels (dx, dy), all about the image centre. Built in pixel units (so rotations stay
    rotations on non-square images) as ``D^-1 A^-1 D`` with ``D = diag(W/2, H/2, 1)``."""
    n, (h, w) = len(angle), size
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    z = one if zoom is None else zoom.to(angle)
    k = zero if shear is None else shear.to(angle).tan()
    t = torch.stack([zero, zero], 1) if shift is None else shift.to(angle)
    c, s = angle.cos(), angle.sin()  # y points down, so a counter-clockwise turn is R(-angle)
    rot = torch.stack([c, s, -s, c], 1).view(n, 2, 2)
    lin = rot @ torch.stack([z, z * k, zero, z], 1).view(n, 2, 2)
    fwd = torch.zeros(n, 3, 3, dtype=angle.dtype, device=angle.device)
    fwd[:, :2, :2], fwd[:, :2, 2], fwd[:, 2, 2] = lin, t, 1.0
    d = torch.tensor([w / 2, h / 2, 1.0], dtype=angle.dtype, device=angle.device)
    return torch.linalg.inv(fwd) * (d[None, :] / d[:, None])  # D^-1 A^-1 D, exact diagonal


def warp(
    x: Tensor, matrix: Tensor, *, displacement: Tensor | None = None, value_range: Range = CENTRED
) -> Tensor:
    """Bilinear resampling ``y(p) = x(M p + d(p))`` with ``matrix`` M (B, 3, 3) and an optional
    ``displacement`` d (B, H, W, 2) in normalised units; outside the image reads ``lo``."""
    _check(x)
    lo, hi = value_range
    theta = matrix[:, :2].to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2) as (x, y)
    if displacement is not None:
        grid = grid + displacement.to(grid)
    y = F.grid_sample(x - lo, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (y + lo).clamp(lo, hi)


def _crop_matrix(x: Tensor, scale: Range, ratio: Range, g: Generator) -> Tensor:
    """Crop of area ``s*H*W`` and pixel aspect ``r`` at a uniform position inside the image,
    as output->input matrix [[w, 0, cx], [0, h, cy]] (w, h: fractions of W, H)."""
    n, aspect = len(x), x.shape[2] / x.shape[3]
    area = _uniform(g, n, *scale)
    r = _uniform(g, n, math.log(ratio[0]), math.log(ratio[1])).exp() * aspect
    w, h = (area * r).sqrt().clamp(max=1.0), (area / r).sqrt().clamp(max=1.0)
    cx, cy = (1 - w) * _uniform(g, n, -1, 1), (1 - h) * _uniform(g, n, -1, 1)
    m = torch.zeros(n, 3, 3, dtype=torch.float64, device=w.device)
    m[:, 0, 0], m[:, 0, 2], m[:, 1, 1], m[:, 1, 2], m[:, 2, 2] = w, cx, h, cy, 1.0
    return m


def _flip_matrix(x: Tensor, prob: float, g: Generator) -> Tensor:
    sx = 1.0 - 2.0 * (_uniform(g, len(x), 0, 1) < prob).double()
    return torch.diag_embed(torch.stack([sx, torch.ones_like(sx), torch.ones_like(sx)], 1))


def _jitter_matrix(x: Tensor, c: AugmentConfig, g: Generator) -> Tensor:
    n, rad = len(x), math.radians
    angle = _uniform(g, n, -rad(c.rotate_degrees), rad(c.rotate_degrees))
    zoom, shear = _uniform(g, n, 1 - c.scale, 1 + c.scale), _uniform(g, n, -1, 1)
    shift = _uniform(g, 2 * n, -c.translate, c.translate).view(n, 2)
    size = torch.tensor([x.shape[3], x.shape[2]], dtype=torch.float64, device=shift.device)
    return affine_matrix(
        tuple(x.shape[2:]), angle, zoom, shear * rad(c.shear_degrees), shift * size
    )


def _elastic_field(x: Tensor, alpha: float, sigma: float, g: Generator) -> Tensor:
    """(B, H, W, 2) smooth displacement: white noise blurred by a Gaussian of ``sigma`` px,
    rescaled to unit std (the std of blurred noise is sum(k^2) for the 1-D kernel k), times
    ``alpha`` px, in normalised units. Simard et al. 2003, sec. 2."""
    n, _, h, w = x.shape
    r = math.ceil(3 * sigma)
    k = torch.exp(-((torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2) / 2)
    k = k / k.sum()
    noise = torch.randn(n * 2, 1, h, w, generator=g, device=g.device).to(x)
    f = F.conv2d(F.pad(noise, (r, r, r, r), mode="replicate"), k.view(1, 1, 1, -1))
    f = F.conv2d(f, k.view(1, 1, -1, 1)) * (alpha / (k**2).sum())  # (2B, 1, H, W) pixels
    px = torch.tensor([2 / w, 2 / h], dtype=x.dtype, device=x.device)
    return f.view(n, 2, h, w).permute(0, 2, 3, 1) * px


def random_resized_crop(
    x: Tensor,
    scale: Range = (0.08, 1.0),
    ratio: Range = (3 / 4, 4 / 3),
    *,
    generator: Generator,
    value_range: Range = CENTRED,
) -> Tensor:
    """A crop of area fraction ~ U(scale), aspect ~ logU(ratio), resized to (H, W)."""
    return warp(x, _crop_matrix(x, scale, ratio, generator), value_range=value_range)


def hflip(
    x: Tensor, prob: float = 0.5, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """Mirror left-right with probability ``prob`` (exact: pixel centres map to centres)."""
    return warp(x, _flip_matrix(x, prob, generator), value_range=value_range)


def affine_jitter(
    x: Tensor,
    degrees: float = 10.0,
    scale: float = 0.1,
    shear: float = 5.0,
    translate: float = 0.05,
    *,
    generator: Generator,
    value_range: Range = CENTRED,
) -> Tensor:
    """One random affine per sample: zoom ~ U(1 +- scale), shear, rotation (degrees) and shift
    ~ U(+-translate) * size, composed into one matrix (see :func:`affine_matrix`)."""
    c = AugmentConfig(rotate_degrees=degrees, scale=scale, shear_degrees=shear, translate=translate)
    return warp(x, _jitter_matrix(x, c, generator), value_range=value_range)


def translate(
    x: Tensor, max_fraction: float, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """Shift by U(+-max_fraction) * (W, H) pixels, new pixels ``lo``."""
    return affine_jitter(
        x, 0.0, 0.0, 0.0, max_fraction, generator=generator, value_range=value_range
    )


def rotate(
    x: Tensor, max_degrees: float, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """Rotate about the centre by U(+-max_degrees), counter-clockwise positive."""
    return affine_jitter(
        x, max_degrees, 0.0, 0.0, 0.0, generator=generator, value_range=value_range
    )


def elastic(
    x: Tensor,
    alpha: float,
    sigma: float = 2.0,
    *,
    generator: Generator,
    value_range: Range = CENTRED,
) -> Tensor:
    """Smooth random warp, RMS displacement ``alpha`` px correlated over ``sigma`` px."""
    eye = torch.eye(3, dtype=torch.float64).expand(len(x), 3, 3)
    field = _elastic_field(x, alpha, sigma, generator)
    return warp(x, eye, displacement=field, value_range=value_range)


def gaussian_noise(
    x: Tensor, sigma: float, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """``x + sigma * (hi - lo) / 2 * eps``, eps ~ N(0, I), clamped (sigma is the std on [-1, 1])."""
    _check(x)
    lo, hi = value_range
    eps = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return (x + sigma * (hi - lo) / 2 * eps.to(x.device)).clamp(lo, hi)


def cutout(
    x: Tensor, size: int, prob: float = 1.0, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """With probability ``prob`` set one ``size`` x ``size`` square per sample, placed uniformly
    fully inside the image (all channels), to ``lo`` (DeVries & Taylor 2017)."""
    _check(x)
    n, _, h, w = x.shape
    s = min(size, h, w)
    top = (_uniform(generator, n, 0, 1) * (h - s + 1)).floor().long().to(x.device)[:, None]
    left = (_uniform(generator, n, 0, 1) * (w - s + 1)).floor().long().to(x.device)[:, None]
    on = (_uniform(generator, n, 0, 1) < prob).to(x.device)[:, None, None]
    r, c = torch.arange(h, device=x.device) - top, torch.arange(w, device=x.device) - left
    mask = ((r >= 0) & (r < s))[:, :, None] & ((c >= 0) & (c < s))[:, None, :]  # (B, H, W)
    return torch.where((mask & on)[:, None], value_range[0], x.clamp(*value_range))


def color_jitter(
    x: Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    prob: float = 1.0,
    *,
    generator: Generator,
    value_range: Range = CENTRED,
) -> Tensor:
    """On u = (x - lo) / (hi - lo), in this order, each clamped to [0, 1]: u * b; (u - mean
    grey) * c + mean grey; (u - grey) * s + grey; factors ~ U(max(0, 1 - f), 1 + f), all 1 for a
    sample without jitter (chance 1 - prob). Grey (C == 1) batches come back unchanged."""
    _check(x)
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"colour jitter needs 1 or 3 channels, got {x.shape[1]}")
    lo, hi = value_range
    on = _uniform(generator, len(x), 0, 1) < prob
    b, c, s = (
        torch.where(on, _uniform(generator, len(x), max(0.0, 1 - f), 1 + f), 1.0)
        .to(x)
        .view(-1, 1, 1, 1)
        for f in (brightness, contrast, saturation)
    )
    grey = torch.tensor(_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    u = ((x - lo) / (hi - lo) * b).clamp(0, 1)
    m = (u * grey).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    u = ((u - m) * c + m).clamp(0, 1)
    g = (u * grey).sum(1, keepdim=True)
    return (((u - g) * s + g).clamp(0, 1) * (hi - lo) + lo).clamp(lo, hi)


def augment(
    x: Tensor, config: AugmentConfig, *, generator: Generator, value_range: Range = CENTRED
) -> Tensor:
    """crop -> flip -> affine jitter -> elastic (one resampling) -> colour -> noise -> cutout."""
    _check(x)
    c, g, kw = config, generator, {"generator": generator, "value_range": value_range}
    m = _flip_matrix(x, c.flip_prob, g) @ _jitter_matrix(x, c, g)
    if tuple(c.crop_scale) != (1.0, 1.0):
        m = _crop_matrix(x, c.crop_scale, c.crop_ratio, g) @ m
    field = _elastic_field(x, c.elastic_alpha, c.elastic_sigma, g) if c.elastic_alpha else None
    if field is not None or not torch.equal(
        m, torch.eye(3, dtype=m.dtype, device=m.device).expand_as(m)
    ):
        x = warp(x, m, displacement=field, value_range=value_range)
    if c.brightness or c.contrast or c.saturation:
        x = color_jitter(x, c.brightness, c.contrast, c.saturation, c.color_prob, **kw)
    if c.noise_std:
        x = gaussian_noise(x, c.noise_std, **kw)
    if c.cutout_size:
        x = cutout(x, c.cutout_size, c.cutout_prob, **kw)
    return x.clamp(*value_range)


def two_views(
    x: Tensor, config: AugmentConfig, *, generator: Generator, value_range: Range = CENTRED
) -> tuple[Tensor, Tensor]:
    """Two independently augmented views (B, C, H, W) of the same batch, for SimCLR."""
    kw = {"generator": generator, "value_range": value_range}
    return augment(x, config, **kw), augment(x, config, **kw)
