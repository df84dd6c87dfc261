"""The ``genlab`` command: parses arguments, calls library functions, prints results.

Any :class:`~genlab.errors.GenlabError` (and any argument error) becomes one line on
stderr and exit code 2. An unexpected exception is a bug: one line and exit code 1,
with the traceback only when ``GENLAB_DEBUG`` is set.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from genlab.errors import GenlabError

__all__ = ["build_parser", "main"]

OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")
SAMPLING_OPTION = re.compile(r"^[A-Za-z_]\w*=")  # genlab sample: steps=50, no sections
TRAIN_HINT = "extra arguments must be key=value config overrides (e.g. train.lr=1e-3)"
SAMPLE_HINT = "extra arguments must be key=value sampling options (e.g. steps=50)"
DEFAULT_EVAL = {
    "generative": "bpd,fd,kid,pr,sharpness",
    "representation": "recall@1,map@r,knn,probe",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _split_overrides(parser: argparse.ArgumentParser, extra: list[str]) -> dict[str, str]:
    from genlab.config import parse_overrides

    pattern = parser.get_default("override_pattern") or OVERRIDE
    bad = [a for a in extra if not pattern.match(a)]
    if bad:
        parser.error(_unrecognized(parser, bad))
    return parse_overrides(extra)


def _unrecognized(parser: argparse.ArgumentParser, bad: list[str]) -> str:
    """``unrecognized arguments: ...`` with the closest option, when one is close."""
    options = [o for action in parser._actions for o in action.option_strings]
    flags = [a.split("=")[0] for a in bad if a.startswith("--")]
    close = [m for f in flags for m in difflib.get_close_matches(f, options, n=1)]
    hint = f"; did you mean {close[0]}?" if close else ""
    if not close and parser.get_default("takes_overrides"):
        hint = f"; {parser.get_default('overrides_hint') or TRAIN_HINT}"
    return f"unrecognized arguments: {' '.join(bad)}{hint}"


# ---------------------------------------------------------------- commands


def cmd_datasets(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    from genlab.data import LoadOptions, data_roots, dataset_available
    from genlab.registry import DATASETS

    opts = LoadOptions(data_dir=args.data_dir)
    rows = [("name", "shape", "levels", "classes", "available", "folder / notes")]
    missing = []
    for name, entry in DATASETS.items():
        ok, where = dataset_available(name, opts)
        if not ok:
            missing.append(f"  {name}: {where}")
        shown = (where or entry.note) if ok else "missing (below)"
        rows.append((name, entry.shape, entry.levels, entry.classes, "yes" if ok else "no", shown))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\nsearched, in order: {', '.join(str(r) for r in data_roots(opts))}")
    if missing:
        print("\n".join(["missing (genlab fetch NAME, --data-dir or GENLAB_DATA):", *missing]))


def cmd_fetch(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    from genlab.data import LoadOptions, data_root
    from genlab.data.fetch import fetch_dataset

    root = data_root(LoadOptions(data_dir=args.data_dir))
    folder = fetch_dataset(args.name, root, mirror=args.mirror, progress=not args.quiet)
    print(f"{args.name}: {folder}")


def _with_flags(overrides: dict[str, str], flags: dict[str, tuple[str, object]]) -> dict[str, str]:
    """``key=value`` arguments with the flags that alias keys on top (``flags``: key ->
    (flag, value or None)); a key set both ways is an error."""
    given = {key: flag for key, flag in flags.items() if flag[1] is not None}
    for key, (flag, value) in given.items():
        if key in overrides:
            shown = flag if flag == "--quiet" else f"{flag} {value}"
            raise GenlabError(
                f"{key} is given twice ({shown} and {key}={overrides[key]}); give it once"
            )
    return {**overrides, **{key: str(value) for key, (_flag, value) in given.items()}}


def _train_overrides(args: argparse.Namespace, overrides: dict[str, str]) -> dict[str, str]:
    """``key=value`` overrides with the explicit flags on top; a key set both ways is an error."""
    flags: dict[str, tuple[str, object]] = {
        "data.name": ("--data", args.data),
        "data.data_dir": ("--data-dir", args.data_dir),
        "train.steps": ("--steps", args.steps),
        "train.batch_size": ("--batch-size", args.batch_size),
        "train.seed": ("--seed", args.seed),
        "train.device": ("--device", args.device),
        "train.threads": ("--threads", args.threads),
        "train.progress": ("--quiet", "false" if args.quiet else None),
    }
    return _with_flags(overrides, flags)


def cmd_train(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    from genlab import runs

    layered = _train_overrides(args, overrides)
    out = Path(args.out)
    if args.resume:
        cfg = runs.resume_config(out, args.family, config_file=args.config, overrides=layered)
    else:
        cfg = runs.make_config(args.family, config_file=args.config, overrides=layered)
    runs.train_run(cfg, out, resume=args.resume, force=args.force)
    print(f"run written to {out}", file=sys.stderr)


def _sampling_flags(args: argparse.Namespace, options: dict[str, str]) -> dict[str, str]:
    """The ``key=value`` sampling options with the older flags, aliases of their keys."""
    flags: dict[str, tuple[str, object]] = {
        "sampler": ("--sampler", args.sampler),
        "steps": ("--steps", args.steps),
        "guidance": ("--guidance", args.guidance),
        "eta": ("--eta", args.eta),
        "label": ("--label", args.label),
    }
    return _with_flags(options, flags)


def cmd_sample(args: argparse.Namespace, options: dict[str, str]) -> None:
    _threads(args)
    from genlab.family import get_family
    from genlab.inference import check_out_path, sample_run, write_samples
    from genlab.runs import load_run

    out = check_out_path(args.out)
    given = _sampling_flags(args, options)
    loaded = load_run(args.run, device=_device(args.device))
    family = get_family(loaded.config.family)
    if args.pictures and family.pictures is None:
        raise GenlabError(f"family {family.name!r} has no --pictures (vae has)")
    x = sample_run(loaded, args.n, seed=args.seed, options=given, progress=not args.quiet)
    path = write_samples(x, loaded.meta, out)
    print(f"{len(x)} samples ({loaded.weights} weights) written to {path}", file=sys.stderr)
    if family.pictures is not None and args.pictures:
        from genlab.runs import load_data

        test_x = load_data(loaded.config.data).test.x
        device = next(loaded.model.parameters()).device
        pics = family.pictures(loaded.model, test_x.to(device), loaded.meta, Path(args.pictures))
        print(f"pictures: {', '.join(str(p) for p in pics)}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    _threads(args)
    from genlab.family import get_family
    from genlab.inference import check_metrics, evaluate_run, read_samples
    from genlab.runs import load_run

    loaded = load_run(args.run, device=_device(args.device))
    chosen = args.metrics or DEFAULT_EVAL[get_family(loaded.config.family).kind]
    metrics = [m.strip() for m in chosen.split(",") if m.strip()]
    check_metrics(metrics)
    sampling = {k[len("sample.") :]: v for k, v in overrides.items() if k.startswith("sample.")}
    overrides = {k: v for k, v in overrides.items() if not k.startswith("sample.")}
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
        sample_options=sampling,
        progress=not args.quiet,
    )
    if args.json:  # strict JSON: a non-finite number becomes null
        print(json.dumps({k: v if math.isfinite(v) else None for k, v in result.items()}))
        return
    print(
        f"{args.run}: {loaded.config.family} on {loaded.meta.name}, {loaded.weights} weights, "
        "reference = test split"
    )
    for key, value in result.items():
        print(f"  {key:28s} {value:.6g}")
    if "bpd" in result:
        from genlab.metrics import estimator_of

        stated = ", ".join(f"{k}={v}" for k, v in estimator_of(loaded.model).items())
        print(
            f"  bpd: {result['bpd']:.4f} +- {result['bpd_se']:.4f} (standard error over "
            f"{result['bpd_images']:.0f} test images; {stated})"
        )


def cmd_study(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    _threads(args)
    from genlab.studies import RESULTS_FILE, run_study

    result = run_study(args.name, args.budget, Path(args.out), args.device)
    print(f"{args.name}: {result.verdict}")
    print(f"  claim: {result.claim}")
    print(f"  {result.summary}")
    print(f"  results: {Path(args.out) / RESULTS_FILE}")


def cmd_report(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    _threads(args)
    from genlab.report import build_report

    names = None if args.studies is None else [n.strip() for n in args.studies.split(",")]
    path = build_report(args.budget, Path(args.out), args.device, studies=names, jobs=args.jobs)
    print(f"report written to {path}")


def _threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (0 or absent: one per physical core) to this process."""
    from genlab.threads import choose_threads

    choose_threads(args.threads or 0)


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads (default: $OMP_NUM_THREADS, else one per physical core)",
    )


def _device(choice: str) -> str:
    from genlab.train.distributed import resolve_device

    return str(resolve_device(choice))


# ---------------------------------------------------------------- parser


def _add_datasets(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("datasets", help="list datasets and where their files were found")
    d.add_argument(
        "--data-dir",
        help="folder searched first (then $GENLAB_DATA, ./data, /usr/share/datasets)",
    )
    d.set_defaults(func=cmd_datasets, parser=d)


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser(
        "fetch",
        help="download a dataset's official files (checksums verified)",
        description="Download NAME's official files into DIR/<name>/ with a progress bar; "
        "each file is checked against its known SHA-256, written atomically and resumed "
        "when a partial download is present.",
    )
    f.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"], help="dataset")
    f.add_argument("--data-dir", help="where to put it (default $GENLAB_DATA or ./data)")
    f.add_argument("--mirror", help="base URL of another server with the same file names")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_fetch, parser=f)


def _add_train(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train",
        help="train a model family into a run folder",
        description="Train FAMILY; extra key=value arguments override config keys "
        "(e.g. train.lr=1e-3 model.prior=0.5).",
    )
    t.add_argument("family", help="model family (e.g. pixelwise)")
    t.add_argument("--data", help="dataset name (digits, toy2d:moons, mnist, cifar10, folder:PATH)")
    t.add_argument("--out", required=True, help="run folder to create")
    t.add_argument("--steps", type=_positive_int, help="training steps")
    t.add_argument("--batch-size", type=_positive_int, help="global batch size")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--config", help="YAML config file (sections data, train, model)")
    t.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    t.add_argument("--data-dir", help="folder holding dataset folders")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out")
    mode.add_argument("--force", action="store_true", help="replace an existing run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(t)
    t.set_defaults(func=cmd_train, takes_overrides=True, parser=t)


def _add_sample(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "sample",
        help="draw samples from a trained run",
        description="Draw -n samples from RUN; extra key=value arguments are the family's "
        "sampling options: diffusion sampler=ddpm|ddim|dpmpp|oneshot steps=K eta=E "
        "spacing=uniform|quadratic|logsnr guidance=W label=C; vae mode=sample|mean; "
        "flow temperature=T. --sampler, --steps, --guidance, --eta and --label are "
        "aliases of their keys.",
    )
    s.add_argument("run", help="run folder")
    s.add_argument("-n", type=_positive_int, default=64, help="number of samples (default 64)")
    s.add_argument("--sampler", help="same as sampler=NAME (diffusion)")
    s.add_argument("--steps", type=_positive_int, help="same as steps=K (diffusion)")
    s.add_argument("--guidance", type=float, help="same as guidance=W (diffusion)")
    s.add_argument("--eta", type=float, help="same as eta=E: DDIM noise, 0 deterministic")
    s.add_argument("--label", type=int, help="same as label=C: class of every sample")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    s.add_argument("--out", required=True, help="FILE.png (picture) or FILE.npz (array)")
    s.add_argument(
        "--pictures",
        help="also write the family's pictures into this folder (vae: reconstructions, "
        "prior samples and means, interpolations, latent traversals)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(s)
    s.set_defaults(
        func=cmd_sample,
        parser=s,
        takes_overrides=True,
        override_pattern=SAMPLING_OPTION,
        overrides_hint=SAMPLE_HINT,
    )


def _add_eval(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "eval",
        help="evaluate a trained run against the test split",
        description="Evaluate RUN against the test split; extra key=value arguments are "
        "data.* overrides (e.g. data.data_dir=DIR) and sampling options of the samples "
        "drawn for fd/kid/pr/sharpness as sample.KEY=VALUE (e.g. sample.steps=50).",
    )
    e.add_argument("run", help="run folder")
    e.add_argument(
        "--metrics",
        help="comma-separated metric names; default "
        + " for generative models, ".join(DEFAULT_EVAL.values())
        + " for representation models (recall@K: any K)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object (metric -> number)")
    e.add_argument(
        "--n-samples", type=_positive_int, default=1000, help="samples drawn for fd/kid/pr"
    )
    e.add_argument("--samples", help=".npz of samples to score instead of drawing new ones")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    e.add_argument("--data-dir", help="folder holding dataset folders")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_threads(e)
    e.set_defaults(func=cmd_eval, takes_overrides=True, parser=e)


def _add_study(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "study",
        help="run one study: its claim, evidence and verdict (results.json + figures)",
        description="Run study NAME into --out: results.json (claim, evidence, verdict, "
        "tables) and PNG figures; training runs go under OUT/runs/.",
    )
    from genlab.registry import STUDIES

    s.add_argument("name", help=f"study name ({', '.join(STUDIES)})")
    s.add_argument(
        "--budget",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on 2 CPU cores (default); full: longer, meant for a GPU",
    )
    s.add_argument("--out", required=True, help="folder for the study's results")
    s.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    _add_threads(s)
    s.set_defaults(func=cmd_study, parser=s)


def _add_report(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "report",
        help="run every study and write one self-contained HTML page",
        description="Run every registered study into OUT/<study>/ and write OUT/index.html, "
        "one page with every claim, verdict, table and figure, that opens offline.",
    )
    r.add_argument(
        "--budget",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on 2 CPU cores (default); full: longer, meant for a GPU",
    )
    r.add_argument("--out", required=True, help="folder for the page and the studies' results")
    r.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--studies", help="comma-separated study names (default: all)")
    r.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="studies run at once, each in its own process with a share of the CPU threads "
        "(default 1; 2 on two cores takes about half the time)",
    )
    _add_threads(r)
    r.set_defaults(func=cmd_report, parser=r)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genlab", description="Train, sample and evaluate generative models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _add_datasets,
        _add_fetch,
        _add_train,
        _add_sample,
        _add_eval,
        _add_study,
        _add_report,
    ):
        add(sub)
    return p


def _internal_error(err: Exception) -> int:
    """One line for an exception that is not a user error (a bug, or out of memory)."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        print(f"genlab: error: out of memory ({first}); lower --batch-size or -n", file=sys.stderr)
        return 2
    print(
        f"genlab: internal error: {type(err).__name__}: {first} "
        "(a bug in genlab; set GENLAB_DEBUG=1 to see the traceback)",
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 user error, 1 bug, 130 interrupt)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        sub: argparse.ArgumentParser = args.parser
        if extra and not getattr(args, "takes_overrides", False):
            sub.error(_unrecognized(sub, extra))
        overrides = _split_overrides(sub, extra)
    except SystemExit as done:  # --help, or an argument error already printed
        return done.code if isinstance(done.code, int) else 2
    return _run(args, overrides)


def _run(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    try:
        args.func(args, overrides)
    except GenlabError as err:
        print(f"genlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("GENLAB_DEBUG"):
            raise
        return _internal_error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
