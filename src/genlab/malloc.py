"""Keep freed memory in the process, so a training step does not page-fault its own
temporaries back in.

torch's CPU tensors come from the C library's ``malloc``. glibc returns the free top of
its heap to the system once it exceeds ``M_TRIM_THRESHOLD`` and serves blocks above
``M_MMAP_THRESHOLD`` with fresh ``mmap`` pages; both thresholds start near 128 KiB and
only grow as blocks are freed, so a step whose temporaries are a few MiB each (a
3x32x32 batch of 128 is 1.5 MiB a tensor) hands memory back and takes it again every
step: thousands of page faults a step, 5-10% of an MLP VAE's step on this machine
(benchmarks/speed.py). :func:`keep_freed_memory` raises both thresholds once, as the
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` environment variables would;
a process's resident memory then stays at its high-water mark, which a training run
reaches anyway. It does nothing off glibc, or where the user has set either variable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_TRIM = 1 << 30  # return the heap's free top only beyond 1 GiB
_MMAP = 32 << 20  # glibc's largest: blocks up to 32 MiB come from the heap
_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process (once); True if set."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux") or any(v in os.environ for v in _ENV):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM))
    return _done
