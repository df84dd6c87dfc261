"""Pictures of data-space tensors: image grids (Pillow) and 2-D scatter plots (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data.dataset import DataMeta

__all__ = ["image_grid", "save_samples", "save_scatter"]


def image_grid(
    x: torch.Tensor, levels: int, *, nrow: int | None = None, pad: int = 1
) -> np.ndarray:
    """(N, C, H, W) integer images in 0..levels-1 -> one uint8 (H', W', C) grid."""
    x = x.detach().cpu().float()
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    img = (x * (255.0 / (levels - 1))).round().clamp(0, 255).to(torch.uint8)
    grid = torch.full((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad), 128, dtype=torch.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, top : top + h, left : left + w] = img[i]
    return grid.permute(1, 2, 0).numpy()


def save_scatter(x: torch.Tensor, path: Path, *, title: str = "") -> None:
    """(N, 2) points as a scatter plot PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = x.detach().cpu().float().numpy()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_samples(x: torch.Tensor, meta: DataMeta, path: Path, *, min_size: int = 256) -> None:
    """Save samples as a picture: an image grid (upscaled to >= ``min_size`` px) or a scatter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not meta.is_image:
        if meta.dims != 2:
            raise ValueError(f"cannot picture {meta.dims}-D vectors; save them as .npz instead")
        save_scatter(x, path)
        return
    assert meta.levels is not None
    grid = image_grid(x, meta.levels)
    scale = max(1, math.ceil(min_size / max(grid.shape[:2])))
    pic = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
    pic.save(path)
