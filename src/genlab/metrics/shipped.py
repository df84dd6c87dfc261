"""Feature-network weights that ship with genlab, so FD/KID/precision/recall on the
datasets genlab knows are the same numbers on every machine.

``weights/features.json`` (the manifest) lists, per architecture version and dataset,
the weights file, its SHA-256, the fingerprint of the train split and recipe they were
trained on (:func:`genlab.metrics.features.dataset_fingerprint`), and what was measured
when they were made: test accuracy, training steps, and the floor FD (1000 seeded train
images against the test split) that anyone can recompute as a check. The files are
written once by ``benchmarks/feature_net.py --ship`` (trained on one CPU thread with the
default recipe); nothing here trains.

A dataset whose train split or recipe differs from the manifest's gets no shipped
weights (its fingerprint differs) and trains its own, locally, as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

__all__ = ["MANIFEST", "WEIGHTS", "ShippedWeights", "find_shipped", "sha256_of"]

WEIGHTS = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS / "features.json"


@dataclass(frozen=True)
class ShippedWeights:
    """One manifest entry: ``path`` (checked against ``sha256`` before use) and what
    was measured when the weights were made (``record``: test accuracy, floor FD...)."""

    arch: str
    dataset: str
    path: Path
    sha256: str
    record: dict[str, Any]

    @property
    def name(self) -> str:
        """``shipped-<arch>:<dataset>``, the name results carry as ``feature_net``."""
        return f"shipped-{self.arch}:{self.dataset}"

    def verified_path(self) -> Path:
        """``path``, once its SHA-256 matches the manifest's; else one GenlabError."""
        if not self.path.is_file():
            raise GenlabError(f"shipped feature weights {self.path} are missing; reinstall genlab")
        got = sha256_of(self.path)
        if got != self.sha256:
            raise GenlabError(
                f"shipped feature weights {self.path.name} fail their SHA-256 check "
                f"({got[:12]}... against {self.sha256[:12]}...); reinstall genlab"
            )
        return self.path


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(manifest: Path = MANIFEST) -> dict[str, Any]:
    """The manifest as a dict (empty when genlab ships none)."""
    if not manifest.is_file():
        return {}
    return json.loads(manifest.read_text(encoding="utf-8"))


def find_shipped(
    arch: str, dataset: str, fingerprint: str, manifest: Path = MANIFEST
) -> ShippedWeights | None:
    """The shipped weights of ``arch`` for ``dataset`` when they were trained on the same
    train split with the same recipe (``fingerprint``); None otherwise."""
    entry = read_manifest(manifest).get(arch, {}).get(dataset)
    if entry is None or entry.get("dataset_fingerprint") != fingerprint:
        return None
    path = manifest.parent / entry["file"]
    return ShippedWeights(arch, dataset, path, entry["sha256"], dict(entry))
