"""Writing one file whole or not at all: the one ``write_atomic`` of genlab.

The bytes go to a temp file beside the target (same folder, so the rename stays on one
file system; same suffix, so writers that pick a format by suffix still work), are
flushed to disk, then the temp file is renamed over the target with ``os.replace``. A
process killed at any moment leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync", "write_atomic"]

Writer = Callable[[Path], None]  # writes the whole file at the path it is given


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: str | bytes | Writer) -> Path:
    """Write ``data`` (text, bytes, or a writer called with the temp path) to ``path``
    atomically; returns ``path``. The temp file is removed if the write fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        elif isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            data(tmp)
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
