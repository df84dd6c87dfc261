"""Self-supervised representation learning: augmentations, SimCLR, pretext tasks and probes."""

from __future__ import annotations

__all__: list[str] = []
