"""genlab against public peers, model for model, in one process: speed at equal architecture.

For each family at 1x28x28 (Fashion-MNIST-like) and 3x32x32 (CIFAR-like), 256 levels, a
genlab model is built as a run builds it (the family's defaults, then its data defaults
for that shape and training-set size) and timed against the strongest public peer we
found at the same architecture and a parameter count within 10% (``peers.py``: one
builder per peer; a ``note`` in the row says where the two could not be matched).

Protocol, every row:

- one process, ``torch.set_num_threads(--threads)`` (default 1) and glibc's malloc
  keeping freed memory (``genlab.malloc``, as genlab's commands set it), the same batch for both
  (the family's training batch at that shape unless ``--batch``), random inputs of the
  data's shape (nothing is downloaded); genlab and the peer interleaved within each
  repeat (genlab, peer, genlab, peer, ...) after warm-up calls, median time per call
  (``--repeats``, or fewer but at least 3 where a repeat of the pair would overrun
  ``--budget`` seconds for the whole timing; the row's ``repeats`` says how many);
- ``train``: forward, backward and ``torch.optim.AdamW(fused=True)`` step of the
  model's training loss (diffusion: both networks on the eps-MSE loss of
  ``unet_speed.py``; flows: the negative log-likelihood of the dequantized, logit data;
  VAE: the negative ELBO; triplet: mining and loss on fixed embeddings, no optimizer);
- ``nll``: the likelihood path in ``torch.no_grad`` (genlab: ``model.nll``; peers: their
  ``log_prob`` or importance-sampled NLL), images/s;
- ``sample``: images/s of each sampler in ``torch.inference_mode`` (diffusion: DDIM and
  DPM-Solver++ at ``--sample-steps`` network passes, against diffusers' schedulers
  driving its UNet, and one network pass, the cost per sampler step);
- ``peak_step_mib``: the peak resident memory of one training step above the resident
  memory just before it (Linux: freed heap returned by ``malloc_trim``, the high-water
  mark reset through ``/proc/self/clear_refs`` and read from ``VmHWM``), after warm-up,
  so weights, gradients and AdamW state are resting memory and the number is the
  step's activations and temporaries;
- ``train_step_gflop``: FLOPs of one training step counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions,
  forward and backward); ``roofline_share``: the achieved FLOP/s of the training step
  over this CPU's float32 matrix-product peak at the same threads (a 1024x1024 product,
  median time), the share of the machine a model's arithmetic reaches;
- ``ratio``: genlab / peer for each speed (above 1: genlab is faster), and of the
  parameter and FLOP counts.

    python benchmarks/speed.py [--out FILE] [--quick] [--only diffusion,flow-glow,...]
    python benchmarks/speed.py --table [--out FILE]   # Markdown tables from the JSON

``--quick`` (a smoke test: batch 8, 2 repeats, 2 sampler steps) writes
results/speed_quick.json unless ``--out`` is given; its ratios mean nothing.

The peers live in a throwaway environment, never genlab dependencies; a missing one
gives its rows ``peer: null`` and the reason.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peers
import torch
from peers import PeerMissing, Side, random_images
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import genlab
from genlab.config import DataConfig, RunConfig, TrainConfig, from_dict, merge, nest
from genlab.data.dataset import DataMeta
from genlab.family import get_family
from genlab.malloc import keep_freed_memory
from genlab.runs import build_model

HERE = Path(__file__).parent
DEFAULT_OUT = HERE / "results" / "speed.json"
QUICK_OUT = HERE / "results" / "speed_quick.json"  # a smoke test never overwrites the above
LEVELS = 256
TRIPLET_BATCH, TRIPLET_DIM = 512, 128  # metric_speed.py's case


@dataclass(frozen=True)
class Shape:
    """An image shape and the dataset whose shape and training-set size pick the
    family's data defaults (the data itself is never loaded)."""

    key: str
    dataset: str
    shape: tuple[int, int, int]
    n_train: int

    @property
    def meta(self) -> DataMeta:
        return DataMeta(self.dataset, self.shape, LEVELS, 10)


SHAPES = {
    "1x28x28": Shape("1x28x28", "fashion-mnist", (1, 28, 28), 60_000),
    "3x32x32": Shape("3x32x32", "cifar10", (3, 32, 32), 50_000),
}


@dataclass(frozen=True)
class Settings:
    """How long to measure (``--quick`` shrinks everything but the protocol)."""

    repeats: int
    warmup: int
    batch: int | None  # None: the family's training batch at the shape
    sample_steps: int
    vae_nll_samples: int | None  # None: the VAE's own nll_samples
    vae_nll_images: int
    triplet_batch: int
    budget_s: float  # seconds one timing of a pair may take: fewer repeats past it


@dataclass
class Pair:
    """One row's two models: genlab's and the peer's (None, with the reason, if missing)."""

    genlab: Side
    peer: Side | None
    reason: str = ""
    batch: int = 0
    note: str = ""
    config: Mapping[str, Any] | None = None  # genlab's model options


# ---------------------------------------------------------------- genlab models


def genlab_model(family: str, shape: Shape, overrides: Mapping[str, Any]) -> tuple[Any, RunConfig]:
    """The family's model as ``genlab train`` builds it for data of ``shape``: the layers
    of ``genlab.runs.make_config`` (family defaults < data defaults < the dataset's
    preset < ``overrides``), with the data defaults computed from the shape's
    ``DataMeta`` and training-set size rather than from a loaded dataset."""
    fam = get_family(family)
    layers = nest(dict(fam.defaults))
    if fam.data_defaults is not None:
        layers = merge(layers, nest(dict(fam.data_defaults(shape.meta, shape.n_train))))
    layers = merge(layers, nest(dict(fam.presets.get(shape.dataset, {}))))
    layers = merge(layers, nest(dict(overrides)))
    cfg = RunConfig(
        family=family,
        data=DataConfig(name=shape.dataset),
        train=from_dict(TrainConfig, layers.get("train"), "train."),
        model=from_dict(fam.config, layers.get("model"), "model."),
    )
    return build_model(cfg, shape.meta), cfg


def _options(cfg: RunConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg.model).items()}


def diffusion_pair(shape: Shape, s: Settings) -> Pair:
    """The default U-Net against diffusers' ``UNet2DModel`` of the same layout."""
    model, cfg = genlab_model("diffusion", shape, {})
    m, batch, net = cfg.model, s.batch or cfg.train.batch_size, model.network
    x0 = torch.rand(batch, *shape.shape) * 2 - 1
    data = random_images(batch, shape.shape, LEVELS)
    g = Side(
        f"genlab UNet {m.channels}x{tuple(m.multipliers)}, attention {tuple(m.attention)}",
        net,
        lambda: peers.eps_mse(lambda xt, t: net(xt, t.float()), x0),
        batch,
        nll=lambda: model.nll(data),
        nll_images=batch,
    )
    x_t, t_mid = torch.randn(batch, *shape.shape), torch.full((batch,), 500.0)
    for name in ("ddim", "dpmpp"):
        run = peers.bind(model.sample, batch, sampler=name, steps=s.sample_steps)
        g.samplers[f"{name}-{s.sample_steps}"] = (run, batch)
    g.samplers["network-pass"] = (lambda: net(x_t, t_mid), batch)
    unet = {
        "channels": m.channels,
        "multipliers": tuple(m.multipliers),
        "blocks": m.blocks,
        "attention": tuple(m.attention),
        "heads": 2,  # UNet's default, which build_diffusion keeps
        "groups": 8,
        "dropout": m.dropout,
        "timesteps": m.timesteps,
    }
    peer, reason = _peer(peers.diffusers_unet, unet, shape.shape, batch, s.sample_steps)
    note = (
        "diffusers has no likelihood (nll: genlab's bound only); both networks train on "
        f"eps-MSE (genlab's run regresses {m.prediction} with min-SNR weights: the same "
        "network cost); diffusers' upsampling convs keep a level's width where genlab's "
        "narrow to the next level's, and its time MLP reads a sinusoid of `channels` "
        "values where genlab's reads 4 x channels"
    )
    return Pair(g, peer, reason, batch, note, config=_options(cfg))


def flowmatch_pair(shape: Shape, s: Settings) -> Pair:
    """The flowmatch family's default model (the diffusion U-Net at the shape) against
    torchcfm's objective and diffusers' flow-match Euler scheduler on a copy of the same
    network: what each library adds around one U-Net."""
    model, cfg = genlab_model("flowmatch", shape, {})
    batch = s.batch or cfg.train.batch_size
    data = random_images(batch, shape.shape, LEVELS)
    g = Side(f"genlab flowmatch ({cfg.model.path} path, {cfg.model.time_sampling} times)", model,
             lambda: model.loss(data)[0], batch)  # fmt: skip
    g.samplers[f"euler-{s.sample_steps}"] = (
        peers.bind(model.sample, batch, solver="euler", nfe=s.sample_steps),
        batch,
    )
    peer, reason = _peer(
        peers.torchcfm_flowmatch, model.network, shape.shape, batch, s.sample_steps
    )
    note = (
        "the same U-Net on both sides (the peer trains a copy): the ratios measure the "
        "objective and the sampling loop around it; genlab samples in data space (levels), "
        "the peer returns the model-space tensor"
    )
    return Pair(g, peer, reason, batch, note, config=_options(cfg))


# the flattened NSF of the zuko and nflows rows (their NSF has no multi-scale image form):
# 2 x 2 spline couplings with MLP conditioners of two hidden layers of 64 units
FLAT_NSF = {"model.conditioner": "mlp", "model.steps": 2, "model.hidden": 64, "model.blocks": 2}
NO_NORM = {"model.norm": "none"}
# normflows' checkerboard couplings run their networks on the kept half as a half-width
# map (at even sides), as genlab's model.checker=gather does
GATHER = {"model.checker": "gather"}


def flow_pair(
    preset: str,
    builder: Callable[..., Side],
    overrides: Mapping[str, Any] | None = None,
    label: str = "",
    note: str = "",
) -> Callable[[Shape, Settings], Pair]:
    """A row of genlab's flow ``preset`` (its defaults at the shape, then ``overrides``,
    which ``label`` names) against the peer ``builder`` makes; ``note``: the row's own."""

    def make(shape: Shape, s: Settings) -> Pair:
        model, cfg = genlab_model("flow", shape, {"model.preset": preset, **(overrides or {})})
        batch = s.batch or cfg.train.batch_size
        x = random_images(batch, shape.shape, LEVELS)
        model.prepare(x)  # data-dependent ActNorm initialisation, as the trainer does
        g = Side(
            f"genlab {preset}" + (f", {label}" if label else ""),
            model,
            lambda: model.loss(x)[0],
            batch,
            nll=lambda: model.nll(x),
            nll_images=batch,
            samplers={"sample": (lambda: model.sample(batch), batch)},
        )
        peer, reason = _peer(builder, cfg.model, shape.shape, LEVELS, x, count(model))
        return Pair(g, peer, reason, batch, note, config=_options(cfg))

    return make


def vae_pair(network: str) -> Callable[[Shape, Settings], Pair]:
    """A row of genlab's VAE with the ``network`` encoder and decoder against pythae's."""

    def make(shape: Shape, s: Settings) -> Pair:
        model, cfg = genlab_model("vae", shape, {"model.network": network})
        batch = s.batch or cfg.train.batch_size
        k = s.vae_nll_samples or cfg.model.nll_samples
        x = random_images(batch, shape.shape, LEVELS)
        few = x[: s.vae_nll_images]
        g = Side(
            f"genlab VAE ({network}, {cfg.model.likelihood})",
            model,
            lambda: model.loss(x)[0],
            batch,
            nll=lambda: model.nll(few, samples=k),
            nll_images=len(few),
            samplers={"sample": (lambda: model.sample(batch), batch)},
        )
        peer, reason = _peer(peers.pythae_vae, cfg.model, shape.shape, LEVELS, x, k, len(few))
        note = (
            f"nll: {k} importance samples per image on {len(few)} images; "
            "pythae's VAE scores a Gaussian (MSE) decoder, genlab's a discretized logistic "
            "one: the pythae decoder computes both numbers per pixel and uses the first"
        )
        return Pair(g, peer, reason, batch, note, config=_options(cfg))

    return make


def triplet_pair(miner: str) -> Callable[[Shape, Settings], Pair]:
    """metric_speed.py's case: mining and the triplet margin loss, forward and backward."""

    def make(shape: Shape, s: Settings) -> Pair:
        from metric_speed import MARGIN, make_batch

        from genlab.metric import BatchHardMiner, SemiHardMiner, TripletMarginLoss

        x0, y = make_batch(s.triplet_batch, TRIPLET_DIM, 10, seed=0)
        chosen = SemiHardMiner(MARGIN) if miner == "semi-hard" else BatchHardMiner()
        loss = TripletMarginLoss(MARGIN, miner=chosen)
        g = Side(
            f"genlab {miner} + TripletMarginLoss",
            None,
            lambda: loss(x0.clone().requires_grad_(True), y),
            len(x0),
        )
        peer, reason = _peer(peers.pml_triplet, miner, MARGIN, x0, y)
        note = (
            f"embeddings {s.triplet_batch} x {TRIPLET_DIM}, 10 classes, margin {MARGIN}, "
            "no optimizer: 'train' is mining + loss forward and backward, per embedding"
        )
        return Pair(g, peer, reason, len(x0), note)

    return make


def _peer(builder: Callable[..., Side], *args: Any) -> tuple[Side | None, str]:
    """The peer ``builder`` makes, or None and why (its package is missing, or building
    fails: an API this script does not know; the row still times genlab)."""
    try:
        return builder(*args), ""
    except PeerMissing as err:
        return None, str(err)
    except Exception as err:
        return None, f"building the peer failed: {type(err).__name__}: {err}"


# rows by name, in order; triplet rows are shape-free and run once
ROWS: dict[str, Callable[[Shape, Settings], Pair]] = {
    "diffusion": diffusion_pair,
    "flowmatch": flowmatch_pair,
    "flow-glow": flow_pair("glow", peers.normflows_glow),
    # the same without GroupNorm in the coupling networks: normflows' bare convolutions
    "flow-glow-no-norm": flow_pair("glow", peers.normflows_glow, NO_NORM, "no GroupNorm"),
    "flow-realnvp": flow_pair("realnvp", peers.normflows_realnvp, GATHER, "gathered checkers"),
    # the preset as a user gets it
    "flow-realnvp-default": flow_pair(
        "realnvp",
        peers.normflows_realnvp,
        note="genlab's defaults (model.checker=mask): its checkerboard couplings run their "
        "networks on full-width maps with half the pixels masked, about twice the conv work "
        "of the gathered half-width maps (the flow-realnvp row)",
    ),
    "flow-nsf-zuko": flow_pair("nsf", peers.zuko_nsf, FLAT_NSF, "flat"),
    "flow-nsf-nflows": flow_pair("nsf", peers.nflows_nsf, FLAT_NSF, "flat"),
    "vae-mlp": vae_pair("mlp"),
    "vae-conv": vae_pair("conv"),
    "triplet-semi-hard": triplet_pair("semi-hard"),
    "triplet-batch-hard": triplet_pair("batch-hard"),
}
SHAPE_FREE = {"triplet-semi-hard", "triplet-batch-hard"}


# ---------------------------------------------------------------- measuring


def count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def train_step(side: Side) -> Callable[[], None]:
    """One training step of ``side``: loss, backward, fused AdamW (none without weights)."""
    params = [] if side.module is None else [p for p in side.module.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True) if params else None

    def step() -> None:
        loss = side.loss()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            opt.step()

    return step


def interleaved(
    fns: list[Callable[[], object]], repeats: int, warmup: int, budget_s: float = 0.0
) -> tuple[list[float], int]:
    """Median seconds per call of each of ``fns``, called in turn within each repeat, and
    the repeats taken: ``repeats``, or fewer (at least 3) where one repeat takes more
    than ``budget_s / repeats`` seconds (0: no budget), judged on the last warm-up."""
    last = [0.0] * len(fns)
    for i, fn in enumerate(fns):
        for _ in range(warmup):
            start = time.perf_counter()
            fn()
            last[i] = time.perf_counter() - start
    if budget_s > 0 and sum(last) > 0:
        repeats = max(min(3, repeats), min(repeats, int(budget_s / sum(last))))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times], repeats


def step_flops(step: Callable[[], None]) -> int:
    """FLOPs of one call of ``step`` (matrix products and convolutions, with backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_step_mib(step: Callable[[], None]) -> float | None:
    """Peak resident memory of one call of ``step`` above the resident memory before it,
    MiB (None where the high-water mark cannot be reset: not Linux)."""
    clear = Path("/proc/self/clear_refs")
    if _LIBC is None or not clear.exists():
        return None
    gc.collect()
    _LIBC.malloc_trim(0)  # freed heap back to the OS, so reuse shows as growth
    before = _status_kib("VmRSS")
    try:
        clear.write_text("5")  # resets VmHWM to the current resident size
    except OSError:
        return None
    step()
    return max(0, _status_kib("VmHWM") - before) / 1024


def matmul_peak(size: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of a float32 ``size`` x ``size`` matrix product, median of ``repeats``."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    (seconds,), _ = interleaved([lambda: torch.mm(a, b)], repeats, warmup=2)
    return {"size": size, "seconds": seconds, "gflop_per_s": 2 * size**3 / seconds / 1e9}


def measure(pair: Pair, s: Settings, peak_gflops: float) -> dict[str, Any]:
    """Speeds, FLOPs and memory of both sides of ``pair``, interleaved."""
    sides = [pair.genlab] + ([pair.peer] if pair.peer is not None else [])
    out: list[dict[str, Any]] = [
        {"model": side.label, "params": count(side.module)} for side in sides
    ]
    repeats: dict[str, int] = {}

    def timed(key: str, fns: list[Callable[[], object]]) -> list[float]:
        times, repeats[key] = interleaved(fns, s.repeats, s.warmup, s.budget_s)
        return times

    for side in sides:
        if side.module is not None:
            side.module.train()
    steps = [train_step(side) for side in sides]
    for rec, side, t in zip(out, sides, timed("train", steps), strict=True):
        rec["train_images_per_s"] = side.train_images / t
    for rec, step in zip(out, steps, strict=True):
        flops = step_flops(step)
        rec["train_step_gflop"] = flops / 1e9
        achieved = flops * rec["train_images_per_s"] / pair.batch / 1e9
        rec["achieved_gflop_per_s"] = achieved
        rec["roofline_share"] = achieved / peak_gflops
        rec["peak_step_mib"] = peak_step_mib(step)
    for side in sides:
        if side.module is not None:
            side.module.eval()
    with torch.no_grad():
        scored = [(i, side.nll, side.nll_images) for i, side in enumerate(sides) if side.nll]
        if scored:
            for (i, _, n), t in zip(scored, timed("nll", [fn for _, fn, _ in scored]), strict=True):
                out[i]["nll_images_per_s"] = n / t
    with torch.inference_mode():
        for key in dict.fromkeys(k for side in sides for k in side.samplers):
            having = [
                (i, *side.samplers[key]) for i, side in enumerate(sides) if key in side.samplers
            ]
            times = timed(f"sample:{key}", [fn for _, fn, _ in having])
            for (i, _, n), t in zip(having, times, strict=True):
                out[i].setdefault("sample_images_per_s", {})[key] = n / t
    peer = out[1] if len(out) > 1 else None
    return {"genlab": out[0], "peer": peer, "ratio": ratios(out[0], peer), "repeats": repeats}


def _short(key: str) -> str:
    return {"train_step_gflop": "flops"}.get(key, key.removesuffix("_images_per_s"))


def ratios(g: dict[str, Any], p: dict[str, Any] | None) -> dict[str, float | None]:
    """genlab / peer for each speed both have, and of the parameter and FLOP counts."""
    if p is None:
        return {}
    out: dict[str, float | None] = {}
    for key in ("train_images_per_s", "nll_images_per_s", "params", "train_step_gflop"):
        if key in g and key in p and p[key]:
            out[_short(key)] = g[key] / p[key]
        elif key in g or key in p:
            out[_short(key)] = None
    gs, ps = g.get("sample_images_per_s", {}), p.get("sample_images_per_s", {})
    for key in dict.fromkeys([*gs, *ps]):
        out[f"sample:{key}"] = gs[key] / ps[key] if key in gs and key in ps else None
    return out


# ---------------------------------------------------------------- results


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor()
    info = Path("/proc/cpuinfo")
    if info.exists():
        models = [ln for ln in info.read_text().splitlines() if ln.startswith("model name")]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "allowed_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def select(only: str) -> list[str]:
    """The rows ``--only`` names, in table order: a row's name or its first words
    (``flow`` is every flow row, ``flow-nsf`` both NSF rows); empty: every row."""
    if not only:
        return list(ROWS)
    wanted = only.split(",")
    unknown = [w for w in wanted if not any(r == w or r.startswith(w + "-") for r in ROWS)]
    if unknown:
        sys.exit(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    return [r for r in ROWS if any(r == w or r.startswith(w + "-") for w in wanted)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as genlab's commands do; the peers run in the same process
    warnings.filterwarnings("ignore", message="torch.lu is deprecated")  # normflows' LU
    s = settings(args)
    only = select(args.only)
    shapes = [SHAPES[k] for k in args.shapes.split(",")]
    peak = matmul_peak(1024, 3 if args.quick else 20)
    print(f"matmul peak {peak['gflop_per_s']:.1f} GFLOP/s ({args.threads} thread(s))", flush=True)
    rows = []
    for name in only:
        for shape in shapes[:1] if name in SHAPE_FREE else shapes:
            torch.manual_seed(0)
            pair = ROWS[name](shape, s)
            row: dict[str, Any] = {
                "row": name,
                "family": name.split("-")[0],
                "shape": "embeddings" if name in SHAPE_FREE else shape.key,
                "batch": pair.batch,
            }
            row.update(measure(pair, s, peak["gflop_per_s"]))
            if pair.peer is None:
                row["peer_reason"] = pair.reason
            notes = [n for n in (pair.note, pair.peer.note if pair.peer else "") if n]
            if notes:
                row["note"] = "; ".join(notes)
            if pair.config:
                row["genlab_config"] = pair.config
            rows.append(row)
            print(summary(row), flush=True)
            del pair
            gc.collect()
    return {
        "protocol": __doc__.split("Protocol, every row:")[1].split("    python")[0].strip(),
        "genlab": genlab.__version__,
        "torch": torch.__version__,
        "peers": peers.versions(),
        "threads": args.threads,
        "machine": machine(),
        "matmul_peak": peak,
        "settings": vars(s) | {"quick": args.quick},
        "rows": rows,
        "load_average_1min_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def settings(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(
            repeats=args.repeats or 2,
            warmup=1,
            batch=args.batch or 8,
            sample_steps=2,
            vae_nll_samples=16,
            vae_nll_images=2,
            triplet_batch=128,
            budget_s=0.0,
        )
    return Settings(
        repeats=args.repeats or 10,
        warmup=2,
        batch=args.batch,
        sample_steps=args.sample_steps,
        vae_nll_samples=None,
        vae_nll_images=8,
        triplet_batch=TRIPLET_BATCH,
        budget_s=args.budget,
    )


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def summary(row: dict[str, Any]) -> str:
    g, p, r = row["genlab"], row["peer"], row["ratio"]
    text = (
        f"{row['row']:18s} {row['shape']:10s} params {g['params']:>9,} / "
        f"{_fmt(p['params']) if p else '-':>9}  train {_fmt(g['train_images_per_s'])} / "
        f"{_fmt(p['train_images_per_s']) if p else '-'} img/s (x{_fmt(r.get('train'), 2)})"
    )
    return text if p else f"{text}  peer: {row.get('peer_reason')}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="", help=f"default {DEFAULT_OUT} (--quick: speed_quick.json)")
    p.add_argument("--quick", action="store_true", help="a smoke test: tiny batch, 2 repeats")
    p.add_argument("--only", default="", help=f"rows or their prefixes: {', '.join(ROWS)}")
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=0, help="timed calls (default 10; quick 2)")
    p.add_argument("--batch", type=int, default=None, help="default: the family's at the shape")
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument(
        "--budget", type=float, default=90.0, help="seconds per timing; past it fewer repeats"
    )
    p.add_argument("--table", action="store_true", help="print Markdown tables of --out, exit")
    args = p.parse_args()
    args.out = args.out or str(QUICK_OUT if args.quick else DEFAULT_OUT)
    if args.table:
        from readme import speed_section  # the README's own tables, one owner

        print(speed_section(json.loads(Path(args.out).read_text())))
        return
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
