"""Grids of images."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


def image_grid(
    images: torch.Tensor | list[torch.Tensor],
    *,
    ncols: int = 8,
    titles: list[str] | None = None,
    suptitle: str | None = None,
    size: float = 1.6,
) -> Figure:
    """Show images (N, 3, H, W) or a list of (3, H, W) in [0, 1] on a grid of ``ncols`` columns."""
    items = list(images)
    if not items:
        raise ValueError("images must hold at least one image")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"titles must have one entry per image ({len(items)}); got {len(titles)}")
    ncols = min(ncols, len(items))
    nrows = math.ceil(len(items) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(items):
            ax.imshow(items[i].detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
