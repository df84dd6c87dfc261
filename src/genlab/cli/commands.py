"""What each ``genlab`` command does: parse nothing, call the library, print results."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

__all__ = [
    "DEFAULT_EVAL",
    "cmd_datasets",
    "cmd_distill",
    "cmd_eval",
    "cmd_fetch",
    "cmd_report",
    "cmd_runs",
    "cmd_sample",
    "cmd_study",
    "cmd_train",
]

DEFAULT_EVAL = {
    "generative": "bpd,fd,kid,pr,sharpness",
    "representation": "recall@1,map@r,knn,probe",
}


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
        "train.batch_size": ("--batch-size", args.batch_size),
        **_run_flags(args),
    }
    return _with_flags(overrides, flags)


def _run_flags(args: argparse.Namespace) -> dict[str, tuple[str, object]]:
    """The flags ``train`` and ``distill`` share, by the config key each sets."""
    return {
        "train.steps": ("--steps", args.steps),
        "train.minutes": ("--minutes", args.minutes),
        "train.seed": ("--seed", args.seed),
        "train.device": ("--device", args.device),
        "train.threads": ("--threads", args.threads),
        "train.progress": ("--quiet", "false" if args.quiet else None),
    }


def cmd_train(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    from genlab import runs

    if args.minutes and args.steps:
        raise GenlabError("--steps and --minutes both set the run's length; give one")
    layered = _train_overrides(args, overrides)
    out = Path(args.out)
    if args.resume:
        cfg = runs.resume_config(out, args.family, config_file=args.config, overrides=layered)
    else:
        cfg = runs.make_config(args.family, config_file=args.config, overrides=layered)
    _train_and_summarise(cfg, out, args, f"run written to {out}")


def _train_and_summarise(cfg: Any, out: Path, args: argparse.Namespace, done: str) -> None:
    """Train ``cfg`` into ``out`` (--resume, --force), then ``done`` and the summary; a
    stopped run prints its summary before the stop line and its exit code."""
    from genlab import runs
    from genlab.errors import TrainingStopped

    started = time.monotonic()
    try:
        runs.train_run(cfg, out, resume=args.resume, force=args.force)
    except TrainingStopped:
        _summary(out, time.monotonic() - started)
        raise
    print(done, file=sys.stderr)
    _summary(out, time.monotonic() - started)


def cmd_distill(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    from genlab import runs
    from genlab.runs.distill import METHODS, distill_config

    if args.minutes and args.steps:
        raise GenlabError("--steps and --minutes both set the run's length; give one")
    layered = _with_flags(overrides, _run_flags(args))
    out = Path(args.out)
    if args.resume:
        family = METHODS.get(args.method)
        if family is None:
            distill_config(args.teacher, args.method)  # the error naming the methods
        cfg = runs.resume_config(out, str(family), overrides=layered)
        if Path(cfg.model.teacher) != Path(args.teacher).resolve():
            raise GenlabError(
                f"{out} was distilled from {cfg.model.teacher}, not {args.teacher}; resume it "
                "with its own teacher"
            )
    else:
        cfg = distill_config(args.teacher, args.method, overrides=layered)
    done = f"student written to {out} ({args.method} of {args.teacher})"
    _train_and_summarise(cfg, out, args, done)


def _summary(out: Path, wall_s: float) -> None:
    """The end-of-run summary (stderr), with this command's wall time; only on rank 0."""
    import os

    from genlab.runs.summary import summarize

    if int(os.environ.get("RANK", "0")) != 0:
        return
    lines = summarize(out).lines()
    lines[0] += f"; this command took {wall_s / 60:.1f} min of wall time"
    print("\n".join(lines), file=sys.stderr)


def cmd_runs(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    from genlab.runs.summary import find_runs, summarize, table

    root = Path(args.dir)
    found = find_runs(root)
    if not found:
        print(f"no run folders under {root}")
        return
    print(table([summarize(p) for p in found], root))


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

        data = loaded.config.data
        if args.data_dir:
            from dataclasses import replace

            data = replace(data, data_dir=args.data_dir)
        test_x = load_data(data).test.x
        device = next(loaded.model.parameters()).device
        pics = family.pictures(loaded.model, test_x.to(device), loaded.meta, Path(args.pictures))
        print(f"pictures: {', '.join(str(p) for p in pics)}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    _threads(args)
    from genlab.family import get_family
    from genlab.inference import check_metrics, evaluate_run, read_samples
    from genlab.runs import load_run

    evaluation = {k: v for k, v in overrides.items() if k.startswith("model.")}
    overrides = {k: v for k, v in overrides.items() if not k.startswith("model.")}
    loaded = load_run(args.run, device=_device(args.device), evaluation=evaluation)
    fam = get_family(loaded.config.family)
    chosen = args.metrics or DEFAULT_EVAL[fam.kind]
    metrics = [m.strip() for m in chosen.split(",") if m.strip()]
    if not args.metrics and not fam.likelihood:  # e.g. consistency students
        metrics = [m for m in metrics if m != "bpd"]
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
        strict = {
            k: v if isinstance(v, str) or math.isfinite(v) else None for k, v in result.items()
        }
        print(json.dumps(strict))
        return
    print(
        f"{args.run}: {loaded.config.family} on {loaded.meta.name}, {loaded.weights} weights, "
        "reference = test split"
    )
    for key, value in result.items():
        print(f"  {key:28s} {value}" if isinstance(value, str) else f"  {key:28s} {value:.6g}")
    if "bpd" in result:
        from genlab.metrics import estimator_of

        stated = ", ".join(f"{k}={v}" for k, v in estimator_of(loaded.model).items())
        print(
            f"  bpd: {result['bpd']:.4f} +- {result['bpd_se']:.4f} (standard error over "
            f"{result['bpd_images']:.0f} test images; {stated})"
        )


def cmd_study(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    _threads(args)
    from genlab.data import use_data_dir
    from genlab.studies import RESULTS_FILE, run_study

    use_data_dir(args.data_dir)
    result = run_study(args.name, args.budget, Path(args.out), args.device, data=args.data)
    print(f"{args.name}: {result.verdict_text}")
    print(f"  claim: {result.claim}")
    print(f"  {result.summary}")
    print(f"  results: {Path(args.out) / RESULTS_FILE}")


def cmd_report(args: argparse.Namespace, _extra: dict[str, str]) -> None:
    _threads(args)
    from genlab.report import INDEX, build_report

    names = None if args.studies is None else [n.strip() for n in args.studies.split(",")]
    path = build_report(
        args.budget,
        Path(args.out),
        args.device,
        studies=names,
        jobs=args.jobs,
        data=args.data,
        data_dir=args.data_dir,
    )
    print(f"report written to {path}")
    print(f"index of every dataset page: {Path(args.out) / INDEX}")


def _threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (0 or absent: one per physical core) to this process, and keep
    freed memory for reuse (genlab/malloc.py: no page faults on every step's temporaries)."""
    from genlab.malloc import keep_freed_memory
    from genlab.threads import choose_threads

    choose_threads(args.threads or 0)
    keep_freed_memory()


def _device(choice: str) -> str:
    from genlab.train.distributed import resolve_device

    return str(resolve_device(choice))
