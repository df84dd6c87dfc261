"""The ``genlab`` command: parses arguments, calls library functions, prints results.

Any :class:`~genlab.errors.GenlabError` (and any argument error) becomes one line on
stderr and exit code 2. An unexpected exception is a bug: one line and exit code 1,
with the traceback only when ``GENLAB_DEBUG`` is set.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import signal
import sys
from collections.abc import Sequence

from genlab.cli.parser import OVERRIDE, TRAIN_HINT, build_parser
from genlab.errors import GenlabError, TrainingStopped

__all__ = ["build_parser", "main"]


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


def _resume_line(args: argparse.Namespace, stop: TrainingStopped) -> str:
    """Where the checkpoint is and the command that resumes: this one with --resume."""
    from genlab.train.stopping import signal_name

    words = [a for a in args.argv if a != "--force"]
    words += [] if "--resume" in words else ["--resume"]
    return (
        f"{signal_name(stop.signum)}; checkpoint at step {stop.step} in {args.out}; "
        f"resume with: genlab {shlex.join(words)}"
    )


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
    """Run one command; returns the exit code (0 ok, 2 user error, 1 bug, 128 + the
    signal when stopped: 130 SIGINT, 143 SIGTERM)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        sub: argparse.ArgumentParser = args.parser
        if extra and not getattr(args, "takes_overrides", False):
            sub.error(_unrecognized(sub, extra))
        overrides = _split_overrides(sub, extra)
    except SystemExit as done:  # --help, or an argument error already printed
        return done.code if isinstance(done.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the resume command
    return _run(args, overrides)


def _run(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    try:
        args.func(args, overrides)
    except GenlabError as err:
        print(f"genlab: error: {err}", file=sys.stderr)
        return 2
    except TrainingStopped as stop:
        print(f"genlab: {stop}; {_resume_line(args, stop)}", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt as err:  # a second signal, or one outside training
        print("genlab: interrupted", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)
    except Exception as err:
        if os.environ.get("GENLAB_DEBUG"):
            raise
        return _internal_error(err)
    return 0
