"""Stopping a run safely on a signal.

SIGINT (Ctrl-C) and SIGTERM (what ``timeout``, ``docker stop``, Kubernetes and SLURM send
before they kill) ask the trainer to finish the step it is in, write a checkpoint at that
step and stop (:class:`~genlab.errors.TrainingStopped`); a second signal stops at once
(:class:`StoppedAtOnce`), leaving the last complete checkpoint: checkpoints are written
atomically, so none is ever half there. Handlers go in only on the main thread (Python
delivers signals there); elsewhere, and after the run, the previous handlers hold.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["SIGNALS", "StopSignals", "StoppedAtOnce", "signal_name"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}.get(signum, str(signum))


class StoppedAtOnce(KeyboardInterrupt):
    """A second signal: stop where the run is (exit code 128 + ``signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class StopSignals:
    """``with StopSignals() as stop:`` then ``stop.signum`` is the first signal received
    (0: none)."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum:
            self._restore()
            raise StoppedAtOnce(signum)
        self.signum = signum
        print(
            f"\ngenlab: {signal_name(signum)} received: stopping after this step with a "
            "checkpoint (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )
