"""Which examples each step trains on: a pure function of (seed, step, rank).

The training stream is a concatenation of seeded random permutations of the split
(one per epoch, without dropping a remainder). Step ``s`` takes the global positions
``[s*B, (s+1)*B)``; DDP rank ``r`` of ``W`` takes its slice of ``B/W`` of them, so
the union over ranks is exactly the single-process batch. Nothing needs saving for a
resume: the order is recomputed from the step.
"""

from __future__ import annotations

import torch

__all__ = ["EpochOrder"]


class EpochOrder:
    """Seeded epoch permutations of ``range(n)``, generated lazily and cached briefly."""

    def __init__(self, n: int, seed: int) -> None:
        assert n > 0, "cannot train on an empty split"
        self.n, self.seed = n, seed
        self._cache: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache[epoch] = torch.randperm(self.n, generator=g)
        return self._cache[epoch]

    def positions(self, start: int, count: int) -> torch.Tensor:
        """Example indices at stream positions ``start .. start+count-1`` (int64, CPU)."""
        out, pos = [], start
        while pos < start + count:
            epoch, offset = divmod(pos, self.n)
            take = min(self.n - offset, start + count - pos)
            out.append(self._perm(epoch)[offset : offset + take])
            pos += take
        return torch.cat(out)

    def batch(self, step: int, batch_size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """This rank's indices for ``step`` of a global batch of ``batch_size``."""
        assert batch_size % world == 0, (batch_size, world)
        local = batch_size // world
        return self.positions(step * batch_size + rank * local, local)
