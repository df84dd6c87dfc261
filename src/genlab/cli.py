"""The ``genlab`` command: parses arguments, calls library functions, prints results.

Any :class:`~genlab.errors.GenlabError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from genlab.errors import GenlabError

__all__ = ["main"]

OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _split_overrides(parser: argparse.ArgumentParser, extra: list[str]) -> dict[str, str]:
    from genlab.config import parse_overrides

    bad = [a for a in extra if not OVERRIDE.match(a)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    return parse_overrides(extra)


# ---------------------------------------------------------------- commands


def cmd_datasets(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    from genlab.data import LoadOptions, dataset_available
    from genlab.registry import DATASETS

    opts = LoadOptions(data_dir=args.data_dir)
    rows = [("name", "shape", "levels", "classes", "available", "notes")]
    for name, entry in DATASETS.items():
        ok, _why = dataset_available(name, opts)
        rows.append(
            (name, entry.shape, entry.levels, entry.classes, "yes" if ok else "no", entry.note)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_train(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    from genlab import runs

    flags = {
        "data.name": args.data,
        "data.data_dir": args.data_dir,
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.seed": args.seed,
        "train.device": args.device,
    }
    if args.quiet:
        flags["train.progress"] = "false"
    layered = {**overrides, **{k: v for k, v in flags.items() if v is not None}}
    out = Path(args.out)
    if args.resume:
        cfg, _meta = runs.read_config(out)
        if cfg.family != args.family:
            raise GenlabError(f"{out} is a {cfg.family!r} run, not {args.family!r}")
        base = {k: v for k, v in runs.to_dict(cfg).items() if k != "family"}
        cfg = runs.make_config(args.family, base=base, overrides=layered)
    else:
        cfg = runs.make_config(args.family, config_file=args.config, overrides=layered)
    runs.train_run(cfg, out, resume=args.resume, force=args.force)
    print(f"run written to {out}", file=sys.stderr)


def cmd_sample(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    from genlab.inference import sample_run, write_samples
    from genlab.runs import load_run

    loaded = load_run(args.run, device=_device(args.device))
    options = {"sampler": args.sampler, "steps": args.steps}
    x = sample_run(loaded, args.n, seed=args.seed, options=options)
    path = write_samples(x, loaded.meta, args.out)
    print(f"{len(x)} samples ({loaded.weights} weights) written to {path}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    from genlab.inference import evaluate_run, read_samples
    from genlab.runs import load_run

    loaded = load_run(args.run, device=_device(args.device))
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if args.data_dir:
        overrides = {**overrides, "data.data_dir": args.data_dir}
    samples = read_samples(args.samples, loaded.meta) if args.samples else None
    result = evaluate_run(
        loaded,
        metrics,
        n_samples=args.n_samples,
        samples=samples,
        seed=args.seed,
        data_overrides=overrides,
    )
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.run}: {loaded.config.family} on {loaded.meta.name}, {loaded.weights} weights, "
        "reference = test split"
    )
    for key, value in result.items():
        print(f"  {key:28s} {value:.6g}")


def _device(choice: str) -> str:
    from genlab.train.distributed import resolve_device

    return str(resolve_device(choice))


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genlab", description="Train, sample and evaluate generative models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("datasets", help="list datasets and whether their files are present")
    d.add_argument(
        "--data-dir", help="folder holding dataset folders (default $GENLAB_DATA or ./data)"
    )
    d.set_defaults(func=cmd_datasets)

    t = sub.add_parser(
        "train",
        help="train a model family into a run folder",
        description="Train FAMILY; extra key=value arguments override config keys "
        "(e.g. train.lr=1e-3 model.prior=0.5).",
    )
    t.add_argument("family", help="model family (e.g. pixelwise)")
    t.add_argument("--data", help="dataset name (digits, toy2d:moons, mnist, cifar10, folder:PATH)")
    t.add_argument("--out", required=True, help="run folder to create")
    t.add_argument("--steps", type=int, help="training steps")
    t.add_argument("--batch-size", type=int, help="global batch size")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--config", help="YAML config file (sections data, train, model)")
    t.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    t.add_argument("--data-dir", help="folder holding dataset folders")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--force", action="store_true", help="replace an existing run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train, takes_overrides=True)

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run", help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--sampler", help="sampler name, for families that have several")
    s.add_argument("--steps", type=int, help="sampler steps, for iterative samplers")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("--out", required=True, help="FILE.png (picture) or FILE.npz (array)")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="evaluate a trained run against the test split")
    e.add_argument("run", help="run folder")
    e.add_argument(
        "--metrics", default="bpd,fd,kid,pr,sharpness", help="comma-separated metric names"
    )
    e.add_argument("--json", action="store_true", help="print one JSON object (metric -> number)")
    e.add_argument("--n-samples", type=int, default=1000, help="samples drawn for fd/kid/pr")
    e.add_argument("--samples", help=".npz of samples to score instead of drawing new ones")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--data-dir", help="folder holding dataset folders")
    e.set_defaults(func=cmd_eval, takes_overrides=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        overrides = _split_overrides(parser, extra)
        args.func(args, overrides)
    except GenlabError as err:
        print(f"genlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
