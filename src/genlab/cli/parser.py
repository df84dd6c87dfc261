"""The ``genlab`` argument parser: every command, its flags and its help."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from genlab.cli.commands import (
    DEFAULT_EVAL,
    cmd_datasets,
    cmd_distill,
    cmd_eval,
    cmd_fetch,
    cmd_report,
    cmd_runs,
    cmd_sample,
    cmd_study,
    cmd_train,
)

__all__ = ["OVERRIDE", "TRAIN_HINT", "build_parser"]

OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")
SAMPLING_OPTION = re.compile(r"^[A-Za-z_]\w*=")  # genlab sample: steps=50, no sections
TRAIN_HINT = "extra arguments must be key=value config overrides (e.g. train.lr=1e-3)"
SAMPLE_HINT = "extra arguments must be key=value sampling options (e.g. steps=50)"


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


def _positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value:g}")
    return value


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads (default: $OMP_NUM_THREADS, else one per physical core)",
    )


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
    _add_run_flags(t, "run folder to create", "continue the run in --out")
    t.add_argument("--batch-size", type=_positive_int, help="global batch size")
    t.add_argument("--config", help="YAML config file (sections data, train, model)")
    t.add_argument("--data-dir", help="folder holding dataset folders")
    t.set_defaults(func=cmd_train, takes_overrides=True, parser=t)


def _add_run_flags(p: argparse.ArgumentParser, out: str, resume: str) -> None:
    """The flags every training command takes (train, distill)."""
    p.add_argument("--out", required=True, help=out)
    p.add_argument("--steps", type=_positive_int, help="training steps")
    p.add_argument(
        "--minutes",
        type=_positive_float,
        help="train for about this many minutes of wall time: a short probe sets the steps "
        "(train.minutes; recorded in config.yaml)",
    )
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help=resume)
    mode.add_argument("--force", action="store_true", help="replace an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(p)


def _add_distill(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "distill",
        help="distil a flowmatch or diffusion run into a few-step student",
        description="Train a student of the run TEACHER into --out: reflow (a flowmatch "
        "teacher only; a flowmatch model on the teacher's noise-to-sample pairs, sampled with "
        "solver=euler nfe=1) or consistency (a flowmatch or unconditional diffusion teacher; "
        "the consistency family, sampled with nfe=1..4). The student "
        "takes the teacher's data, network and batch and starts from its weights; extra "
        "key=value arguments override config keys (e.g. model.teacher_nfe=20).",
    )
    d.add_argument("teacher", help="the flowmatch or diffusion run folder to distil")
    d.add_argument("--method", required=True, help="reflow or consistency")
    _add_run_flags(d, "run folder of the student", "continue the student in --out")
    d.set_defaults(func=cmd_distill, takes_overrides=True, parser=d)


def _add_runs(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "runs",
        help="list the run folders under a folder",
        description="List the run folders under DIR (default .): family, data, steps done "
        "of planned, last validation score, minutes of training and validation, and state "
        "(finished, stopped at step N and resumable, or no checkpoint).",
    )
    r.add_argument("dir", nargs="?", default=".", help="folder to search (default .)")
    r.set_defaults(func=cmd_runs, parser=r)


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
        "--data-dir", help="folder holding dataset folders (--pictures reads test images)"
    )
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
        description="Run study NAME on dataset --data into --out: results.json (claim, "
        "evidence, verdict, tables, protocol) and PNG figures; training runs go under "
        "OUT/runs/.",
    )
    from genlab.registry import STUDIES

    s.add_argument("name", help=f"study name ({', '.join(STUDIES)})")
    s.add_argument(
        "--budget",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on 2 CPU cores (default); full: longer, meant for a GPU",
    )
    _add_study_data(s)
    s.add_argument("--out", required=True, help="folder for the study's results")
    s.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    _add_threads(s)
    s.set_defaults(func=cmd_study, parser=s)


def _add_study_data(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default="digits",
        help="dataset the studies train on (default digits; e.g. fashion-mnist, found in "
        "--data-dir, $GENLAB_DATA, ./data or /usr/share/datasets)",
    )
    p.add_argument("--data-dir", help="folder holding dataset folders, searched first")


def _add_report(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "report",
        help="run every study on a dataset and write its self-contained HTML page",
        description="Run every registered study on --data into OUT/<data>/<study>/ and write "
        "OUT/<data>/index.html, one page with every claim, verdict, table and figure, that "
        "opens offline; OUT/index.html links every dataset page under OUT.",
    )
    r.add_argument(
        "--budget",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on 2 CPU cores (default); full: longer, meant for a GPU",
    )
    _add_study_data(r)
    r.add_argument("--out", required=True, help="folder for the pages and the studies' results")
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
        _add_distill,
        _add_runs,
        _add_sample,
        _add_eval,
        _add_study,
        _add_report,
    ):
        add(sub)
    return p
