"""Sigma maps and the per-level anatomy of a Wasserstein Distortion."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..perceptual.wasserstein import WassersteinIntermediates

SIGMA_CMAP = "magma"


def _show(ax, image: torch.Tensor, title: str, **kwargs) -> object:
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    array = image.detach().cpu()
    if array.dim() == 3:  # an RGB image (3, H, W) in [0, 1]
        return ax.imshow(array.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
    return ax.imshow(array.float().numpy(), interpolation="nearest", **kwargs)


def sigma_maps(
    maps: dict[str, torch.Tensor], *, num_levels: int = 5, ncols: int = 5, size: float = 2.2
) -> Figure:
    """A gallery of log2-sigma maps (H, W) on one colour scale [0, num_levels], with their titles."""
    if not maps:
        raise ValueError("maps must hold at least one sigma map")
    for name, log2_sigma in maps.items():
        if not isinstance(log2_sigma, torch.Tensor):
            raise TypeError(f"maps[{name!r}] must be a tensor (H, W); got {type(log2_sigma).__name__}")
        if log2_sigma.dim() != 2:
            raise ValueError(f"maps[{name!r}] must be a tensor (H, W); got {tuple(log2_sigma.shape)}")
    ncols = min(ncols, len(maps))
    nrows = -(-len(maps) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + 0.8, size * nrows), squeeze=False)
    image = None
    for ax, (name, log2_sigma) in zip(axes.flat, maps.items(), strict=False):
        image = _show(ax, log2_sigma, name, cmap=SIGMA_CMAP, vmin=0, vmax=num_levels)
    for ax in list(axes.flat)[len(maps) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="log2 σ (pixels)", shrink=0.9)
    return fig


def wasserstein_levels(
    intermediates: WassersteinIntermediates,
    *,
    image_a: torch.Tensor | None = None,
    image_b: torch.Tensor | None = None,
    log2_sigma: torch.Tensor | None = None,
    distortion: float | None = None,
    index: int = 0,
    size: float = 1.7,
) -> Figure:
    """What a Wasserstein Distortion is made of, level by level.

    Top row: the images (3, H, W) and the log2-sigma map, where given. Middle row: each level's distortion
    map, averaged over channels (level 0 is the squared error, level k + 1 the W2 distance of the local
    statistics at scale 2^k), titled with its contribution mean(weight · map). Bottom row: the level
    weights, the hat functions of log2 σ (white = 1). For batched intermediates, sample ``index`` is shown.
    """
    wd_maps, weights = intermediates.wd_maps, intermediates.weights
    terms = intermediates.level_terms()
    if wd_maps[0].dim() == 4:
        wd_maps = [m[index] for m in wd_maps]
        weights = [w[index] if w.dim() == 3 else w for w in weights]
        terms = [t[index] for t in terms]
    top = [
        (item, title)
        for item, title in ((image_a, "image a"), (image_b, "image b"), (log2_sigma, "log2 σ"))
        if item is not None
    ]
    ncols = max(len(wd_maps), len(top), 1)
    fig, axes = plt.subplots(3, ncols, figsize=(size * ncols, size * 3 + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (item, title) in zip(axes[0], top, strict=False):
        ax.axis("on")
        if title == "log2 σ":
            num_levels = len(wd_maps) - 1
            _show(ax, item, title, cmap=SIGMA_CMAP, vmin=0, vmax=max(num_levels, 1))
        else:
            _show(ax, item, title)
    for level, (wd_map, weight, term) in enumerate(zip(wd_maps, weights, terms, strict=True)):
        for ax in (axes[1, level], axes[2, level]):
            ax.axis("on")
        _show(axes[1, level], wd_map.mean(dim=0), f"level {level}\n{float(term):.4g}", cmap="viridis")
        _show(axes[2, level], weight, f"weight {level}", cmap="gray", vmin=0, vmax=1)
    total = float(sum(terms)) if distortion is None else float(distortion)
    fig.suptitle(
        f"Wasserstein Distortion {total:.5g} (maps: mean over channels; titles: level terms)", fontsize=9
    )
    fig.tight_layout()
    return fig
