"""Public peers of genlab's models for ``speed.py``: one builder per peer, each returning
a :class:`Side` (the model, its training loss, likelihood and samplers as closures).

Every builder imports its package itself and raises :class:`PeerMissing` when it is
absent, so ``speed.py`` runs with any subset of peers installed. None of these packages
is a genlab dependency; they live in a throwaway environment:

    python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install torch normflows zuko \
        nflows diffusers pythae pytorch-metric-learning
    /tmp/benchvenv/bin/pip install --no-deps -e .

Inputs are what genlab's own model sees: flows get uniformly dequantized data through the
logit (genlab's ``alpha``), inside the timed call as genlab's ``nll`` does it; the VAE
gets data scaled to [0, 1]; the U-Net gets x_t of the eps-MSE loss of ``unet_speed.py``.
"""

from __future__ import annotations

import copy
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.diffusion.schedule import cosine_alpha_bar

# distribution name -> import name
PACKAGES = {
    "diffusers": "diffusers",
    "normflows": "normflows",
    "zuko": "zuko",
    "nflows": "nflows",
    "pythae": "pythae",
    "pytorch-metric-learning": "pytorch_metric_learning",
    "torchcfm": "torchcfm",
}

Sampler = tuple[Callable[[], object], int]  # (draw a batch, images per call)


class PeerMissing(Exception):
    """A peer cannot be built here (its package is missing); the message says why."""


@dataclass
class Side:
    """One model of a comparison, as closures over a fixed batch.

    ``loss()`` is the training loss (random draws inside, as in training); ``module`` holds
    the trained weights (None: nothing to optimise); ``nll()`` scores ``nll_images``
    images; ``samplers`` maps a name to (draw, images per draw)."""

    label: str
    module: nn.Module | None
    loss: Callable[[], torch.Tensor]
    train_images: int
    nll: Callable[[], object] | None = None
    nll_images: int = 0
    samplers: dict[str, Sampler] = field(default_factory=dict)
    note: str = ""


def versions() -> dict[str, str | None]:
    """Installed version of every peer package (None: not installed)."""
    out: dict[str, str | None] = {}
    for dist in PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def need(dist: str) -> Any:
    """Import the peer package ``dist``, or raise :class:`PeerMissing`."""
    try:
        return importlib.import_module(PACKAGES[dist])
    except ImportError as err:
        raise PeerMissing(f"{dist} is not installed here ({err})") from None
    except Exception as err:  # installed but broken (an incompatible dependency)
        raise PeerMissing(f"{dist} fails to import: {type(err).__name__}: {err}") from None


def bind(fn: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], object]:
    """``fn`` with its arguments fixed, called with none."""
    return lambda: fn(*args, **kwargs)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def random_images(n: int, shape: tuple[int, ...], levels: int) -> torch.Tensor:
    """(n, *shape) uint8 levels, seeded: the data's dtype and shape, random values."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, levels, (n, *shape), generator=g, dtype=torch.uint8)


def match_width(build: Callable[[int], nn.Module], target: int, low: int = 1) -> int:
    """The width (at least ``low``) whose model's parameter count is closest to
    ``target``. Every network here is linear layers or convolutions of that width, so
    the count is a quadratic in it: fitted exactly from three built models."""
    p1, p2, p3 = (count(build(low + i)) for i in range(3))
    c = (p3 - 2 * p2 + p1) / 2
    b = p2 - p1 - c * (2 * low + 1)
    a = p1 - b * low - c * low**2

    def params(w: int) -> float:
        return a + b * w + c * w * w

    w = (target - a) / b if c == 0 else (-b + math.sqrt(b * b - 4 * c * (a - target))) / (2 * c)
    candidates = {max(low, math.floor(w)), max(low, math.ceil(w))}
    return min(candidates, key=lambda v: abs(params(v) - target))


# ---------------------------------------------------------------- shared preprocessing


def eps_mse(
    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor
) -> torch.Tensor:
    """The simple DDPM loss (Ho et al. 2020, eq. 14) of ``net(x_t, t)`` on ``x0``: t uniform
    in 1..1000, cosine alpha-bar (Nichol & Dhariwal 2021), as ``unet_speed.py``."""
    t = torch.randint(1, 1001, (x0.shape[0],))
    abar = cosine_alpha_bar(t, 1000).float().view(-1, *([1] * (x0.dim() - 1)))
    eps = torch.randn_like(x0)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    return (net(x_t, t) - eps).square().mean()


def dequantized_logit(
    k: torch.Tensor, levels: int, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform dequantization then ``logit(alpha + (1 - 2 alpha) y)``, as genlab's flow
    ``nll``: (z0, log|dz0/dk-space| - D log L) per example."""
    y = (k.float() + torch.rand(k.shape)) / levels
    p = alpha + (1 - 2 * alpha) * y
    log_p, log_1mp = torch.log(p), torch.log1p(-p)
    d = math.prod(k.shape[1:])
    logdet = d * math.log1p(-2 * alpha) - (log_p + log_1mp).flatten(1).sum(1)
    return log_p - log_1mp, logdet - d * math.log(levels)


def to_levels(z0: torch.Tensor, levels: int, alpha: float) -> torch.Tensor:
    """Model space back to integer levels, as genlab's flow ``sample`` ends."""
    y = (torch.sigmoid(z0) - alpha) / (1 - 2 * alpha)
    return (y * levels).floor().clamp(0, levels - 1).long()


# ---------------------------------------------------------------- diffusion: diffusers


def diffusers_unet(spec: dict[str, Any], shape: tuple[int, ...], batch: int, steps: int) -> Side:
    """diffusers' ``UNet2DModel`` with genlab's U-Net layout ``spec``: channels per level,
    residual blocks per level (``blocks`` down, ``blocks + 1`` up), self-attention at the
    same levels and in the middle block, the same heads, GroupNorm groups, scale-shift
    timestep conditioning, dropout and time-embedding width (4 x channels). Samplers:
    its DDIM and DPM-Solver++(2M) schedulers driving the UNet for ``steps`` passes."""
    diffusers = need("diffusers")
    c, h, w = shape
    widths = [spec["channels"] * m for m in spec["multipliers"]]
    attention = set(spec["attention"])
    head_dims = {widths[i] // spec["heads"] for i in attention} | {widths[-1] // spec["heads"]}
    note = []
    if len(head_dims) > 1:
        note.append(f"head widths {sorted(head_dims)} differ by level: the largest is used")
    # UNet2DModel upsamples by exactly 2 (no output size): sides must halve evenly
    factor = 2 ** (len(widths) - 1)
    side = h if h % factor == 0 and w % factor == 0 else math.ceil(h / factor) * factor
    if side != h:
        note.append(
            f"diffusers' UNet2DModel cannot upsample {math.ceil(h / factor)} -> "
            f"{math.ceil(h / (factor // 2))}: the peer runs on {side}x{side} inputs "
            f"({side * side / (h * w):.2f}x the pixels of genlab's {h}x{w})"
        )
    unet = diffusers.UNet2DModel(
        sample_size=side,
        in_channels=c,
        out_channels=c,
        layers_per_block=spec["blocks"],
        block_out_channels=tuple(widths),
        down_block_types=tuple(
            "AttnDownBlock2D" if i in attention else "DownBlock2D" for i in range(len(widths))
        ),
        up_block_types=tuple(
            "AttnUpBlock2D" if i in attention else "UpBlock2D" for i in reversed(range(len(widths)))
        ),
        attention_head_dim=max(head_dims),
        norm_num_groups=spec["groups"],
        resnet_time_scale_shift="scale_shift",
        dropout=spec["dropout"],
    )
    x0 = torch.rand(batch, c, side, side) * 2 - 1
    x_t, t_mid = torch.randn(batch, c, side, side), torch.full((batch,), 500)

    def draw(scheduler: Any) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            scheduler.set_timesteps(steps)
            x = torch.randn(batch, c, side, side)
            for t in scheduler.timesteps:
                x = scheduler.step(unet(x, t).sample, t, x).prev_sample
            return x

        return run

    common = {
        "num_train_timesteps": spec["timesteps"],
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "v_prediction",
    }
    ddim = diffusers.DDIMScheduler(**common, clip_sample=True)
    dpm = diffusers.DPMSolverMultistepScheduler(
        **common, algorithm_type="dpmsolver++", solver_order=2
    )
    return Side(
        f"diffusers UNet2DModel {tuple(widths)}",
        unet,
        lambda: eps_mse(lambda xt, t: unet(xt, t).sample, x0),
        batch,
        samplers={
            f"ddim-{steps}": (draw(ddim), batch),
            f"dpmpp-{steps}": (draw(dpm), batch),
            "network-pass": (lambda: unet(x_t, t_mid).sample, batch),
        },
        note="; ".join(note),
    )


# ---------------------------------------------------------------- flows: normflows


def _flow_side(
    label: str,
    module: nn.Module,
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    draw: Callable[[int], torch.Tensor],
    x: torch.Tensor,
    levels: int,
    alpha: float,
    flat: bool,
    note: str,
) -> Side:
    """A flow peer on genlab's batch ``x``: loss and nll on the dequantized logit data
    (per dimension for the loss, as genlab's), samples mapped back to levels."""
    dims = math.prod(x.shape[1:])

    def nll() -> torch.Tensor:
        z0, pre = dequantized_logit(x, levels, alpha)
        return -(log_prob(z0.flatten(1) if flat else z0) + pre)

    with torch.no_grad():  # data-dependent initialisation (ActNorm), as genlab's prepare
        nll()
    n = len(x)
    return Side(
        label,
        module,
        lambda: nll().mean() / dims,
        n,
        nll=nll,
        nll_images=n,
        samplers={"sample": (lambda: to_levels(draw(n), levels, alpha), n)},
        note=note,
    )


def _normflows_multiscale(
    nf: Any, shape: tuple[int, ...], scales: int, steps: Callable[[int, int, int], list[list]]
) -> Any:
    """normflows' ``MultiscaleFlow`` with genlab's multi-scale layout: per level squeeze
    (C, H, W) -> (4C, H/2, W/2), the level's steps, factor half the channels out, until
    ``scales`` levels or an odd side; the last level keeps all. ``steps(C, H, W)`` lists
    each step's flows data -> latent; normflows lists levels, steps and flows from the
    latent side, so all are reversed, each step one ``Composite`` (as its GlowBlock)."""
    c, h, w = shape
    dims = []  # (C, H, W) after each level's squeeze, data side first
    for _ in range(scales):
        c, h, w = 4 * c, h // 2, w // 2
        dims.append((c, h, w))
        c //= 2
        if h % 2 or w % 2:
            break
    q0, flows, merges = [], [], []
    for i, (c, h, w) in enumerate(reversed(dims)):
        chained = [nf.flows.Composite(step[::-1]) for step in steps(c, h, w)]
        flows.append([*chained[::-1], nf.flows.Squeeze()])
        latent = (c, h, w) if i == 0 else (c // 2, h, w)
        q0.append(nf.distributions.DiagGaussian(latent, trainable=False))
        if i > 0:
            merges.append(nf.flows.Merge())
    return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def _conv_net(nf: Any, c_in: int, hidden: int, c_out: int, convs: int) -> nn.Module:
    """normflows' ConvNet2d of ``convs`` 3x3 convolutions, ReLU between, last at zero."""
    return nf.nets.ConvNet2d([c_in, *[hidden] * (convs - 1), c_out], [3] * convs)


def _conditioner_convs(cfg: Any) -> int:
    """3x3 convolutions of genlab's conv conditioner: in, 2 per residual block, out."""
    return 2 + 2 * cfg.blocks


def normflows_glow(
    cfg: Any, shape: tuple[int, ...], levels: int, x: torch.Tensor, target: int
) -> Side:
    """normflows' Glow steps (ActNorm, LU 1x1 conv, channel affine coupling with its
    sigmoid scale, as its ``GlowBlock``) at genlab's levels and steps per level, the
    coupling network a ``ConvNet2d`` of as many 3x3 convolutions as genlab's conditioner
    (GlowBlock's own is 3-1-3), its width chosen for genlab's parameter count."""
    nf = need("normflows")
    convs = _conditioner_convs(cfg)

    def build(hidden: int) -> Any:
        def steps(c: int, h: int, w: int) -> list:
            out = []
            for _ in range(cfg.steps):
                net = _conv_net(nf, c // 2, hidden, c, convs)
                out.append(
                    [
                        nf.flows.ActNorm((c, 1, 1)),
                        nf.flows.Invertible1x1Conv(c, use_lu=True),
                        nf.flows.AffineCouplingBlock(net, scale=True, scale_map="sigmoid"),
                    ]
                )
            return out

        return _normflows_multiscale(nf, shape, cfg.scales, steps)

    hidden = match_width(build, target, low=8)
    model = build(hidden)
    norm = "GroupNorm, " if cfg.norm == "group" else ""
    note = (
        f"normflows coupling nets: {convs} 3x3 convs at width {hidden} (genlab: "
        f"{cfg.channels}, {norm}residual); both read C/2 channels and write C"
    )
    return _flow_side(
        f"normflows Glow ({cfg.scales} levels x {cfg.steps} steps, width {hidden})",
        model,
        lambda z0: model.log_prob(z0, None),
        lambda n: model.sample(n)[0],
        x,
        levels,
        cfg.alpha,
        flat=False,
        note=note,
    )


def normflows_realnvp(
    cfg: Any, shape: tuple[int, ...], levels: int, x: torch.Tensor, target: int
) -> Side:
    """normflows' affine coupling blocks in genlab's multi-scale RealNVP layout: per level
    ``ceil(steps / 2)`` checkerboard couplings then ``floor(steps / 2)`` channel ones,
    alternating parity, ActNorm before each, exp scale (normflows has no multi-scale
    RealNVP model of its own); networks as in :func:`normflows_glow`."""
    nf = need("normflows")
    convs = _conditioner_convs(cfg)
    odd: list[str] = []

    def build(hidden: int) -> Any:
        def steps(c: int, h: int, w: int) -> list:
            out = []
            checker = w % 2 == 0  # normflows' checkerboard split halves the width
            if not checker:
                odd.append(f"{c}x{h}x{w}")
            for i in range(cfg.steps):
                parity = "_inv" if i % 2 else ""
                if i < (cfg.steps + 1) // 2 and checker:
                    mode, c_in, c_out = "checkerboard" + parity, c, 2 * c
                else:
                    mode, c_in, c_out = "channel" + parity, c // 2, c
                net = _conv_net(nf, c_in, hidden, c_out, convs)
                coupling = nf.flows.AffineCouplingBlock(net, scale_map="exp", split_mode=mode)
                out.append([nf.flows.ActNorm((c, 1, 1)), coupling])
            return out

        return _normflows_multiscale(nf, shape, cfg.scales, steps)

    hidden = match_width(build, target, low=8)
    odd.clear()
    model = build(hidden)
    where = (
        "as genlab's model.checker=gather does"
        if cfg.checker == "gather"
        else "where genlab's run on the masked full map (about twice the FLOPs)"
    )
    note = (
        f"normflows coupling nets: {convs} 3x3 convs at width {hidden} (genlab: "
        f"{cfg.channels}); its checkerboard split gathers half the pixels, so those nets "
        f"run on half-width maps, {where}"
    )
    if odd:
        note += (
            f"; normflows' checkerboard split needs an even width: at {', '.join(odd)} all "
            "couplings are channel-wise (genlab's: half checkerboard)"
        )
    return _flow_side(
        f"normflows RealNVP blocks ({cfg.scales} levels x {cfg.steps} couplings, width {hidden})",
        model,
        lambda z0: model.log_prob(z0, None),
        lambda n: model.sample(n)[0],
        x,
        levels,
        cfg.alpha,
        flat=False,
        note=note,
    )


# ---------------------------------------------------------------- flows: zuko, nflows

FLAT_TRANSFORMS = 4  # spline couplings of the flattened peers (each half twice)


def _flat_note(name: str, cfg: Any, hidden: int) -> str:
    return (
        f"both flattened: genlab's nsf with model.conditioner=mlp ({2 * cfg.steps} spline "
        f"couplings, MLP conditioners of {cfg.blocks} hidden layers of {cfg.hidden}), "
        f"{name}'s {FLAT_TRANSFORMS} spline couplings ({cfg.bins} bins) with conditioners "
        f"of width {hidden}, chosen for genlab's parameter count"
    )


def zuko_nsf(cfg: Any, shape: tuple[int, ...], levels: int, x: torch.Tensor, target: int) -> Side:
    """zuko's ``NSF`` as coupling flow (``passes=2``) on the flattened image, ``bins``
    as genlab's, two hidden layers whose width matches genlab's parameter count. zuko's
    masked linear layers store (and multiply) their full dense weights, masked."""
    zuko = need("zuko")
    d = math.prod(shape)

    def build(hidden: int) -> nn.Module:
        return zuko.flows.NSF(
            d, bins=cfg.bins, transforms=FLAT_TRANSFORMS, passes=2, hidden_features=(hidden,) * 2
        )

    hidden = match_width(build, target)
    flow = build(hidden)
    return _flow_side(
        f"zuko NSF (flat, {FLAT_TRANSFORMS} couplings, width {hidden})",
        flow,
        lambda z0: flow().log_prob(z0),
        lambda n: flow().sample((n,)).view(n, *shape),
        x,
        levels,
        cfg.alpha,
        flat=True,
        note=_flat_note("zuko", cfg, hidden) + "; zuko counts its masked-out weights",
    )


def nflows_nsf(cfg: Any, shape: tuple[int, ...], levels: int, x: torch.Tensor, target: int) -> Side:
    """nflows' rational-quadratic spline couplings (linear tails at genlab's bound,
    ``bins`` as genlab's) after random permutations, on the flattened image, each
    conditioner its ``ResidualNet`` (two blocks) of the width matching genlab's count."""
    need("nflows")
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow
    from nflows.nn.nets import ResidualNet
    from nflows.transforms.base import CompositeTransform
    from nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
    from nflows.transforms.permutations import RandomPermutation
    from nflows.utils.torchutils import create_alternating_binary_mask

    d = math.prod(shape)

    def build(hidden: int) -> nn.Module:
        layers = []
        for i in range(FLAT_TRANSFORMS):
            layers += [
                RandomPermutation(d),
                PiecewiseRationalQuadraticCouplingTransform(
                    create_alternating_binary_mask(d, even=i % 2 == 0),
                    lambda n_in, n_out: ResidualNet(n_in, n_out, hidden, num_blocks=2),
                    num_bins=cfg.bins,
                    tails="linear",
                    tail_bound=cfg.tail_bound,
                ),
            ]
        return Flow(CompositeTransform(layers), StandardNormal([d]))

    hidden = match_width(build, target)
    flow = build(hidden)
    return _flow_side(
        f"nflows NSF (flat, {FLAT_TRANSFORMS} couplings, width {hidden})",
        flow,
        flow.log_prob,
        lambda n: flow.sample(n).view(n, *shape),
        x,
        levels,
        cfg.alpha,
        flat=True,
        note=_flat_note("nflows", cfg, hidden),
    )


# ---------------------------------------------------------------- VAE: pythae


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def _groups(c: int) -> int:
    return math.gcd(8, c)


class _ResBlock(nn.Module):
    """GroupNorm-ReLU-conv twice around an identity: the residual block of genlab's VAE
    conv networks, written here for the peer."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(_groups(c), c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(_groups(c), c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _sides(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    out = [(h, w)]
    for _ in range(levels):
        out.append(((out[-1][0] + 1) // 2, (out[-1][1] + 1) // 2))
    return out


def _conv_encoder(shape: tuple[int, ...], out: int, cfg: Any) -> nn.Sequential:
    """Image -> ``out``: 3x3 conv to ``channels``, per level a residual block and a
    stride-2 conv doubling the channels, then a linear map of the flattened features."""
    c, h, w = shape
    width, layers = cfg.channels, [nn.Conv2d(c, cfg.channels, 3, padding=1)]
    for _ in range(cfg.levels):
        layers += [_ResBlock(width), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, 2, 1)]
        width *= 2
    last_h, last_w = _sides(h, w, cfg.levels)[-1]
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(width * last_h * last_w, out))


class _ConvDecoder(nn.Module):
    """``latent`` -> (``out_channels``, H, W): the encoder mirrored, nearest upsampling
    to its exact sizes, then GroupNorm, ReLU and a 3x3 output conv."""

    def __init__(self, latent: int, shape: tuple[int, ...], out_channels: int, cfg: Any) -> None:
        super().__init__()
        self.sizes = _sides(shape[1], shape[2], cfg.levels)[::-1]
        width = cfg.channels * 2**cfg.levels
        self.start = (width, *self.sizes[0])
        self.first = nn.Linear(latent, width * self.sizes[0][0] * self.sizes[0][1])
        self.ups = nn.ModuleList()
        for _ in range(cfg.levels):
            self.ups.append(
                nn.Sequential(
                    nn.ReLU(), nn.Conv2d(width, width // 2, 3, padding=1), _ResBlock(width // 2)
                )
            )
            width //= 2
        self.last = nn.Sequential(
            nn.GroupNorm(_groups(width), width),
            nn.ReLU(),
            nn.Conv2d(width, out_channels, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.first(z).view(len(z), *self.start)
        for size, up in zip(self.sizes[1:], self.ups, strict=True):
            h = up(F.interpolate(h, size=size, mode="nearest"))
        return self.last(h)


def pythae_vae(
    cfg: Any, shape: tuple[int, ...], levels: int, x: torch.Tensor, k: int, nll_images: int
) -> Side:
    """pythae's ``VAE`` (Gaussian decoder, MSE reconstruction) with genlab's encoder and
    decoder sizes: the MLP (``depth`` hidden layers of ``hidden`` units) or the conv
    networks (``channels``, ``levels``), latent ``latent``. The decoder writes two numbers
    per pixel as genlab's discretized logistic decoder does; pythae scores the first."""
    need("pythae")
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.samplers import NormalSampler

    d, z = math.prod(shape), cfg.latent
    if cfg.network == "mlp":
        enc_net = nn.Sequential(nn.Flatten(), _mlp([d, *[cfg.hidden] * cfg.depth, 2 * z]))
        dec_net: nn.Module = _mlp([z, *[cfg.hidden] * cfg.depth, 2 * d])
    else:
        enc_net = _conv_encoder(shape, 2 * z, cfg)
        dec_net = _ConvDecoder(z, shape, 2 * shape[0], cfg)

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            BaseEncoder.__init__(self)
            self.net = enc_net

        def forward(self, x: torch.Tensor) -> ModelOutput:
            mu, logvar = self.net(x).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            BaseDecoder.__init__(self)
            self.net = dec_net

        def forward(self, z: torch.Tensor) -> ModelOutput:
            out = self.net(z).view(len(z), 2, -1)[:, 0]  # the mean; the scale unused
            return ModelOutput(reconstruction=out.view(len(z), *shape))

    config = VAEConfig(input_dim=tuple(shape), latent_dim=z, reconstruction_loss="mse")
    model = VAE(model_config=config, encoder=Encoder(), decoder=Decoder())
    data = x.float() / (levels - 1)
    chunk = max(c for c in range(1, min(k, 256) + 1) if k % c == 0)  # genlab: 256 a call
    sampler = NormalSampler(model)
    n = len(x)
    return Side(
        f"pythae VAE ({cfg.network}, mse)",
        model,
        lambda: model({"data": data}).loss,
        n,
        nll=lambda: model.get_nll(data[:nll_images], n_samples=k, batch_size=chunk),
        nll_images=nll_images,
        samplers={"sample": (lambda: sampler.sample(num_samples=n, batch_size=n), n)},
        note=f"pythae get_nll: one image at a time, {chunk} latents a call",
    )


# ---------------------------------------------------------------- triplet: pml


def pml_triplet(miner: str, margin: float, x0: torch.Tensor, y: torch.Tensor) -> Side:
    """pytorch-metric-learning's ``TripletMarginLoss`` with its semi-hard
    ``TripletMarginMiner`` or ``BatchHardMiner``, Euclidean distance without
    re-normalising (the embeddings are unit vectors already, as genlab's case)."""
    pml = need("pytorch-metric-learning")
    from pytorch_metric_learning import distances, losses, miners

    dist = distances.LpDistance(normalize_embeddings=False)
    if miner == "semi-hard":
        mine: Any = miners.TripletMarginMiner(margin, type_of_triplets="semihard", distance=dist)
    else:
        mine = miners.BatchHardMiner(distance=dist)
    loss_fn = losses.TripletMarginLoss(margin=margin, distance=dist)

    def loss() -> torch.Tensor:
        x = x0.clone().requires_grad_(True)
        return loss_fn(x, y, mine(x, y))

    del pml
    return Side(
        f"pml {type(mine).__name__} + TripletMarginLoss",
        None,
        loss,
        len(x0),
        note="pml averages over triplets with a positive loss, genlab over all mined",
    )


def torchcfm_flowmatch(net: nn.Module, shape: tuple[int, ...], batch: int, nfe: int) -> Side:
    """torchcfm's ``ConditionalFlowMatcher`` (sigma = 0: the straight path) training a copy
    of genlab's U-Net (the same architecture and weights, so equal FLOPs) with uniform
    times, and diffusers' ``FlowMatchEulerDiscreteScheduler`` sampling that copy for
    ``nfe`` Euler steps. torchcfm runs time from noise (0) to data (1), diffusers and
    genlab from data (0) to noise (1): the network reads genlab's 1000 t either way."""
    tcfm, diffusers = need("torchcfm"), need("diffusers")
    net = copy.deepcopy(net)
    fm = tcfm.ConditionalFlowMatcher(sigma=0.0)
    x_data = torch.rand(batch, *shape) * 2 - 1

    def loss() -> torch.Tensor:
        t, xt, ut = fm.sample_location_and_conditional_flow(torch.randn_like(x_data), x_data)
        # torchcfm's velocity points to the data: genlab's time 1 - t, velocity -ut
        return (net(xt, 1000 * (1 - t), None) + ut).square().mean()

    sched = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)

    def sample() -> torch.Tensor:
        sched.set_timesteps(nfe)
        x = torch.randn(batch, *shape)
        for t in sched.timesteps:
            v = net(x, t.expand(batch).float(), None)  # diffusers' timesteps are 1000 sigma
            x = sched.step(v, t, x).prev_sample
        return x

    label = "torchcfm ConditionalFlowMatcher + diffusers FlowMatchEuler, genlab's U-Net"
    return Side(label, net, loss, batch, samplers={f"euler-{nfe}": (sample, batch)})
