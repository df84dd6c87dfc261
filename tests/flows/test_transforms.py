"""Contract of every transform, in float64 against independent truth: round trips in both
directions, inverse logdet = -forward logdet, logdet = log|det| of the autograd Jacobian,
gradients to every parameter, and state_dict round trip."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genlab.flows import FlowConfig
from genlab.flows.architectures import glow_image, nsf_image, realnvp_image
from genlab.flows.transforms import (
    ActNorm,
    AdditiveCoupling,
    AffineCoupling,
    Compose,
    InvertibleConv1x1,
    Logit,
    Permutation,
    ScalarAffine,
    SplineCoupling,
    Split,
    Squeeze,
    Transform,
    Unsqueeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    conditioner_sizes,
    half_mask,
)
from genlab.nn import MLP, ConvResNet

D, DC = 6, 3  # vector features, vector context features


@dataclass
class Case:
    name: str
    make: Callable[[torch.Generator], Transform]
    shape: tuple[int, ...]
    context: tuple[int, ...] | None = None
    unit: bool = False  # forward domain is (0, 1)


def mlp(i: int, o: int) -> nn.Module:
    return MLP(i, o, hidden=16, depth=2)


def cnn(i: int, o: int) -> nn.Module:
    return ConvResNet(i, o, hidden=8, blocks=1)


def glow_step(c: int, g: torch.Generator, ctx: int = 0) -> Transform:
    mask = channel_mask(c, 2, 2)
    return Compose(
        ActNorm(c),
        InvertibleConv1x1(c, generator=g),
        AffineCoupling(mask, cnn(c // 2 + ctx, 2 * (c - c // 2))),
    )


# the multi-scale presets of large images, on tiny ones: two levels, (1, 8, 8) ->
# (4, 4, 4) -> Split -> (8, 2, 2); glow and nsf on (2, 8, 4) too
TINY = FlowConfig(steps=2, scales=2, bins=3, tail_bound=3.0)
MULTISCALE = {"realnvp": realnvp_image, "glow": glow_image, "nsf": nsf_image}


def multiscale_case(preset: str, shape: tuple[int, int, int]) -> Case:
    build = MULTISCALE[preset]
    return Case(
        f"{preset}-multiscale-{'x'.join(map(str, shape))}", lambda g: build(shape, TINY, cnn), shape
    )


CASES = [
    Case("affine-vec", lambda g: AffineCoupling(half_mask(D), mlp(D // 2, D)), (D,)),
    Case(
        "affine-vec-ctx",
        lambda g: AffineCoupling(half_mask(D, True), mlp(D // 2 + DC, D)),
        (D,),
        (DC,),
    ),
    Case(
        "additive-vec",
        lambda g: AdditiveCoupling(alternating_mask(D, 1), mlp(D // 2, D // 2)),
        (D,),
    ),
    Case(
        "spline-vec",
        lambda g: SplineCoupling(alternating_mask(D), mlp(D // 2, 11 * D // 2), bins=4, bound=1.5),
        (D,),
    ),
    Case(
        "spline-vec-ctx",
        lambda g: SplineCoupling(half_mask(D), mlp(D // 2 + DC, 8 * D // 2), bins=3, bound=2.0),
        (D,),
        (DC,),
    ),
    Case(
        "affine-img-checker",
        lambda g: AffineCoupling(checkerboard_mask(2, 4, 4, 1), cnn(2, 4)),
        (2, 4, 4),
    ),
    Case(
        "affine-img-checker-gathered",
        lambda g: AffineCoupling(checkerboard_mask(2, 4, 6, 0), cnn(2, 4), gather=True),
        (2, 4, 6),
    ),
    Case(
        "affine-img-checker-gathered-ctx-vec",
        lambda g: AffineCoupling(checkerboard_mask(2, 4, 4, 1), cnn(2 + DC, 4), gather=True),
        (2, 4, 4),
        (DC,),
    ),
    Case(
        "affine-img-ctx-img",
        lambda g: AffineCoupling(channel_mask(2, 4, 4), cnn(1 + 1, 2 * 1)),
        (2, 4, 4),
        (1, 4, 4),
    ),
    Case(
        "additive-img-ctx-vec",
        lambda g: AdditiveCoupling(checkerboard_mask(2, 4, 4), cnn(2 + DC, 2)),
        (2, 4, 4),
        (DC,),
    ),
    Case(
        "spline-img",
        lambda g: SplineCoupling(checkerboard_mask(1, 4, 4), cnn(1, 5), bins=2, bound=1.0),
        (1, 4, 4),
    ),
    Case("actnorm-vec", lambda g: ActNorm(D), (D,)),
    Case("actnorm-img", lambda g: ActNorm(2), (2, 4, 4)),
    Case("conv1x1-img", lambda g: InvertibleConv1x1(3, generator=g), (3, 4, 4)),
    Case("conv1x1-vec", lambda g: InvertibleConv1x1(D, generator=g), (D,)),
    Case("perm-vec", lambda g: Permutation.random(D, g), (D,)),
    Case("perm-img", lambda g: Permutation.reverse(3), (3, 2, 2)),
    Case("squeeze", lambda g: Squeeze(), (1, 4, 4)),
    Case("unsqueeze", lambda g: Unsqueeze(), (4, 2, 2)),
    Case(
        "split-glow",
        lambda g: Split(Compose(Squeeze(), glow_step(4, g, 1), Unsqueeze()), keep=1),
        (2, 4, 4),
        (1, 2, 2),
    ),
    Case("logit", lambda g: Logit(0.05), (2, 3), unit=True),
    Case("scalar-affine", lambda g: ScalarAffine(-1.7, 0.3), (1, 2, 2)),
    Case(
        "compose-vec",
        lambda g: Compose(
            ActNorm(D),
            Permutation.reverse(D),
            AffineCoupling(half_mask(D), mlp(D // 2 + DC, D)),
            InvertibleConv1x1(D, generator=g),
            SplineCoupling(half_mask(D, True), mlp(D // 2 + DC, 11 * D // 2), bins=4),
        ),
        (D,),
        (DC,),
    ),
    *(multiscale_case(p, (1, 8, 8)) for p in MULTISCALE),
    *(multiscale_case(p, (2, 8, 4)) for p in ("glow", "nsf")),
    multiscale_case("realnvp", (1, 3, 5)),  # odd sides: checkerboard couplings, no squeeze
    Case(  # gathered checkerboards on the 4x4 level (the 2x2 level's are gathered too)
        "realnvp-multiscale-gathered",
        lambda g: realnvp_image((1, 8, 8), dataclasses.replace(TINY, checker="gather"), cnn),
        (1, 8, 8),
    ),
]


def build(case: Case) -> Transform:
    """The transform in float64 with every parameter random and non-zero (zero-initialised
    last layers included, so couplings are not the identity), in eval mode."""
    g = torch.Generator().manual_seed(0)
    t = case.make(g).double().eval()
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return t


def inputs(case: Case, n: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *case.shape, generator=g, dtype=torch.float64)
    if case.unit:
        x = torch.rand(n, *case.shape, generator=g, dtype=torch.float64)
    ctx = None
    if case.context is not None:
        ctx = torch.randn(n, *case.context, generator=g, dtype=torch.float64)
    return x, ctx


ids = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_round_trip_both_directions(case: Case):
    t = build(case)
    x, ctx = inputs(case)
    y, ld = t(x, ctx)
    assert ld.shape == (x.shape[0],) and y.numel() == x.numel()
    x_back, ld_inv = t.inverse(y, ctx)
    torch.testing.assert_close(x_back, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(ld_inv, -ld, atol=1e-8, rtol=1e-8)
    z, _ = inputs(case, seed=2)
    if case.unit:
        z = torch.randn_like(z)
    z = z.reshape(y.shape)
    w, _ = t.inverse(z, ctx)
    torch.testing.assert_close(t(w, ctx)[0], z, atol=1e-5, rtol=0)


def brute_logdet(t: Transform, x: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
    """log|det J| of the per-example map, J from autograd on the flattened input."""
    out = []
    for i in range(x.shape[0]):
        c = None if ctx is None else ctx[i : i + 1]

        def f(v: torch.Tensor, c: torch.Tensor | None = c) -> torch.Tensor:
            return t(v.reshape(1, *x.shape[1:]), c)[0].reshape(-1)

        jac = torch.autograd.functional.jacobian(f, x[i].reshape(-1))
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        out.append(logabs)
    return torch.stack(out)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_logdet_matches_autograd_jacobian(case: Case):
    t = build(case)
    x, ctx = inputs(case)
    _, ld = t(x, ctx)
    torch.testing.assert_close(ld, brute_logdet(t, x, ctx), atol=1e-4, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_gradients_reach_every_parameter(case: Case):
    t = build(case)
    x, ctx = inputs(case)
    x.requires_grad_(True)
    y, ld = t(x, ctx)
    (y.square().sum() - ld.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in t.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_state_dict_round_trip(case: Case):
    t = build(case)
    fresh = case.make(torch.Generator().manual_seed(5)).double().eval()
    fresh.load_state_dict(t.state_dict())
    x, ctx = inputs(case)
    y, ld = t(x, ctx)
    y2, ld2 = fresh(x, ctx)
    assert torch.equal(y, y2) and torch.equal(ld, ld2)


@pytest.mark.parametrize(
    "coupling",
    [
        AffineCoupling(half_mask(D), MLP(D // 2, D, hidden=8)),
        AdditiveCoupling(half_mask(D), MLP(D // 2, D // 2, hidden=8)),
        SplineCoupling(half_mask(D), MLP(D // 2, 23 * D // 2, hidden=8)),
    ],
    ids=["affine", "additive", "spline"],
)
def test_zero_initialised_coupling_is_identity(coupling: Transform):
    x = torch.randn(5, D, dtype=torch.float64) * 3
    y, ld = coupling.double()(x)
    torch.testing.assert_close(y, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld, torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)


def test_coupling_keeps_masked_part_and_uses_context():
    g = torch.Generator().manual_seed(3)
    case = CASES[1]
    t = build(case)
    x, ctx = inputs(case)
    y, _ = t(x, ctx)
    kept = t.mask.bool()
    assert torch.equal(y[:, kept], x[:, kept])
    y_other, _ = t(x, torch.randn(ctx.shape, generator=g, dtype=torch.float64))
    assert not torch.allclose(y_other[:, ~kept], y[:, ~kept])


def test_image_coupling_matches_realnvp_formula():
    """The conditioner runs channels-last (faster convolutions on CPU); the output is the
    same contiguous (N, C, H, W) tensor as eqs. 7-9 of RealNVP computed by hand."""
    g = torch.Generator().manual_seed(4)
    mask = checkerboard_mask(2, 4, 4)
    net = ConvResNet(2, 4, hidden=8, blocks=1, zero_init_last=False).double()
    coupling = AffineCoupling(mask, net, scale_bound=2.0).double()
    x = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    y, ld = coupling(x)
    raw_s, t = net(x * coupling.mask).chunk(2, dim=1)
    s = 2.0 * torch.tanh(raw_s / 2.0) * (1 - coupling.mask)
    expected = x * coupling.mask + (1 - coupling.mask) * (x * torch.exp(s) + t)
    assert y.is_contiguous()
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(ld, s.flatten(1).sum(1))


@pytest.mark.parametrize("flip", [False, True])
def test_channel_coupling_splits_channels_and_matches_realnvp_formula(flip: bool):
    """A channel mask (same on every pixel) is split, not blended: the conditioner reads
    the kept channels only and writes parameters for the free ones; the map is eqs. 7-9
    of RealNVP on the free channels, by hand."""
    g = torch.Generator().manual_seed(6)
    c = 6
    mask = channel_mask(c, 4, 4, flip=flip)
    assert conditioner_sizes(mask, 2) == (3, 6)
    assert conditioner_sizes(checkerboard_mask(c, 4, 4), 2) == (6, 12)
    net = ConvResNet(3, 6, hidden=8, blocks=1, zero_init_last=False).double()
    coupling = AffineCoupling(mask, net, scale_bound=2.0).double()
    x = torch.randn(3, c, 4, 4, generator=g, dtype=torch.float64)
    y, ld = coupling(x)
    kept = mask[:, 0, 0].bool()
    raw_s, t = net(x[:, kept]).chunk(2, dim=1)
    s = 2.0 * torch.tanh(raw_s / 2.0)
    assert y.is_contiguous()
    torch.testing.assert_close(y[:, kept], x[:, kept], rtol=0, atol=0)
    torch.testing.assert_close(y[:, ~kept], x[:, ~kept] * torch.exp(s) + t)
    torch.testing.assert_close(ld, s.flatten(1).sum(1))
    back, ld_back = coupling.inverse(y)
    torch.testing.assert_close(back, x)
    torch.testing.assert_close(ld_back, -ld)


def test_split_passes_factored_out_channels_unchanged():
    case = next(c for c in CASES if c.name == "split-glow")
    t = build(case)
    x, ctx = inputs(case)
    y, _ = t(x, ctx)
    assert torch.equal(y[:, 1:], x[:, 1:]) and not torch.allclose(y[:, :1], x[:, :1])
