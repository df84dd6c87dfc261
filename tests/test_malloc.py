"""genlab.malloc: glibc keeps freed memory, so a step's temporaries do not page-fault."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import ctypes, resource, sys, torch
torch.set_num_threads(1)
from genlab.malloc import keep_freed_memory
# start from glibc's initial 128 KiB mmap threshold, fixed (the dynamic one depends on
# what was freed before: the imports), so "default" faults deterministically
assert ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)
if sys.argv[1] == "keep":
    assert keep_freed_memory() and keep_freed_memory()  # set once, then remembered
def step():  # fresh 4 MiB temporaries, freed at once: glibc's default trims them away
    a = torch.empty(1 << 20).fill_(1.0); b = torch.empty(1 << 20).fill_(2.0)
    return float((a + b)[0])
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict[str, str] | None = None) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_keeping_freed_memory_removes_the_page_faults_of_fresh_temporaries():
    default, kept = _faults("default"), _faults("keep")
    assert default > 1000  # 50 steps of 3 x 4 MiB fresh pages (1024 pages each)
    assert kept < default / 10


def test_an_environment_setting_wins(monkeypatch):
    import genlab.malloc as malloc

    monkeypatch.setattr(malloc, "_done", None)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert malloc.keep_freed_memory() is False
