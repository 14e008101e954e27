"""Codes on the pixel grid: VQ code maps, sparse-code strength and dominant-atom maps, usage histograms and
channel slices of reconstructions.

A token of patch size p covers p×p pixels; per-token values are drawn with exact block repetition by
:func:`laserlab.bottlenecks.patches.token_map` (token order batch-major, (B, h, w), h = ⌈H/p⌉), so a map is
right for every patch size and every image size, padding cropped.
"""

from __future__ import annotations

import colorsys

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..bottlenecks.patches import token_map
from ..checks import check_positive_int
from ..sparse.analysis import perplexity
from .layout import draw_baselines, figure_axes, log_rate_axis

STRENGTH_CMAP = "inferno"
CHANNELS = (("R", "tab:red"), ("G", "tab:green"), ("B", "tab:blue"))


def _image_size(image_size) -> tuple[int, int]:
    if not isinstance(image_size, tuple | list) or len(image_size) != 2:
        raise ValueError(f"image_size must be a pair (H, W) of positive ints; got {image_size!r}")
    for side in image_size:
        check_positive_int(side, "image_size")
    return int(image_size[0]), int(image_size[1])


def pixel_map(
    values: torch.Tensor, *, patch_size: int, image_size: tuple[int, int], index: int = 0
) -> torch.Tensor:
    """Per-token values of image ``index`` on its pixels, (H, W): ``values`` (B·h·w,) in token order or
    (B, h, w) for images of ``image_size`` (H, W) cut into ``patch_size`` patches."""
    height, width = _image_size(image_size)
    check_positive_int(patch_size, "patch_size")
    if not isinstance(values, torch.Tensor) or values.dim() not in (1, 3):
        got = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"values must have shape (B·h·w,) or (B, h, w); got {got}")
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    batch = values.shape[0] if values.dim() == 3 else max(values.numel() // (rows * cols), 1)
    if not 0 <= index < batch:
        raise ValueError(f"index must be in [0, {batch}); got {index}")
    return token_map(values.detach().cpu(), patch_size, (batch, 1, height, width))[index]


def categorical_colors(count: int) -> np.ndarray:
    """``count`` distinguishable RGB colours (count, 3): tab10/tab20 when they suffice, else hues spaced by
    the golden ratio with alternating lightness, so neighbouring indices never look alike."""
    check_positive_int(count, "count")
    if count <= 10:
        return np.asarray(plt.get_cmap("tab10").colors[:count])
    if count <= 20:
        return np.asarray(plt.get_cmap("tab20").colors[:count])
    golden = (np.sqrt(5) - 1) / 2
    return np.asarray(
        [colorsys.hls_to_rgb((i * golden) % 1, (0.45, 0.65, 0.3)[i % 3], 0.75) for i in range(count)]
    )


def code_map(
    indices: torch.Tensor,
    *,
    patch_size: int,
    image_size: tuple[int, int],
    num_codes: int,
    colors: torch.Tensor | np.ndarray | None = None,
    index: int = 0,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Which code each pixel's token uses: VQ codeword indices, or the dominant atom of a sparse code.

    ``indices`` (B·h·w,) or (B, h, w), integers in [0, num_codes) (-1: no code, drawn white). Without
    ``colors`` the codes get a categorical palette (:func:`categorical_colors`) — indices are names, not
    magnitudes; with ``colors`` (num_codes, 3) in [0, 1] (e.g. each codeword's mean colour,
    :func:`laserlab.sparse.analysis.mean_colors`) each pixel shows its code's colour. The drawn array is the
    (H, W) index map (masked where -1) or the (H, W, 3) colour image.
    """
    check_positive_int(num_codes, "num_codes")
    if not isinstance(indices, torch.Tensor) or indices.dtype not in (torch.int32, torch.int64):
        got = indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__
        raise TypeError(f"indices must be an integer tensor; got {got}")
    grid = pixel_map(indices, patch_size=patch_size, image_size=image_size, index=index).numpy()
    if grid.size and int(grid.max()) >= num_codes:
        raise ValueError(
            f"indices must lie in [-1, num_codes) = [-1, {num_codes}); got max {int(grid.max())}"
        )
    fig, ax = figure_axes(ax, (3.2, 3.2))
    ax.set_xticks([])
    ax.set_yticks([])
    if colors is None:
        palette = ListedColormap(categorical_colors(num_codes)).with_extremes(bad="white")
        shown = np.ma.masked_less(grid, 0)
        ax.imshow(shown, cmap=palette, vmin=-0.5, vmax=num_codes - 0.5, interpolation="nearest")
    else:
        palette = np.asarray(colors.detach().cpu() if isinstance(colors, torch.Tensor) else colors, float)
        if palette.shape != (num_codes, 3):
            raise ValueError(f"colors must have shape (num_codes, 3) = ({num_codes}, 3); got {palette.shape}")
        rgb = np.where((grid >= 0)[..., None], palette.clip(0, 1)[grid.clip(min=0)], 1.0)
        ax.imshow(rgb, interpolation="nearest")
    used = len(np.unique(grid[grid >= 0]))
    ax.set_title(title or f"codes, p = {patch_size} ({used} of {num_codes} used)", fontsize=8)
    return fig


def code_strength_map(
    strength: torch.Tensor,
    *,
    patch_size: int,
    image_size: tuple[int, int],
    index: int = 0,
    percentiles: tuple[float, float] = (1.0, 99.0),
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Per-token code strength (e.g. L1 norm of the coefficients,
    :func:`laserlab.sparse.analysis.code_strength`) on the pixels, percentile-normalised: the colour scale
    runs from the ``percentiles`` (low, high) of the image's map, so a few outlier tokens do not wash out the
    rest (values outside are clipped to the ends)."""
    low, high = percentiles
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100; got {percentiles!r}")
    grid = pixel_map(strength, patch_size=patch_size, image_size=image_size, index=index).double().numpy()
    vmin, vmax = np.percentile(grid, [low, high])
    if vmax <= vmin:
        vmax = vmin + 1e-12
    fig, ax = figure_axes(ax, (3.6, 3.2))
    ax.set_xticks([])
    ax.set_yticks([])
    image = ax.imshow(grid, cmap=STRENGTH_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or f"code strength, p = {patch_size} (P{low:g}–P{high:g})", fontsize=8)
    return fig


def usage_histogram(
    counts: torch.Tensor, *, sort: bool = True, title: str | None = None, ax: Axes | None = None
) -> Figure:
    """How often each code is used, as a bar chart of frequencies (sorted by frequency unless ``sort`` is
    False), titled with the perplexity exp(H), the entropy H in bits and the number of codes used."""
    if not isinstance(counts, torch.Tensor) or counts.dim() != 1 or counts.numel() == 0:
        got = tuple(counts.shape) if isinstance(counts, torch.Tensor) else type(counts).__name__
        raise ValueError(f"counts must be a non-empty 1-D tensor (K,) of code counts; got {got}")
    counts = counts.detach().cpu().double()
    if bool((counts < 0).any()):
        raise ValueError("counts must be non-negative")
    spread = float(perplexity(counts))
    frequencies = (counts / counts.sum().clamp(min=1)).numpy()
    order = np.argsort(-frequencies, kind="stable") if sort else np.arange(len(frequencies))
    fig, ax = figure_axes(ax, (4.5, 2.6))
    ax.bar(np.arange(len(frequencies)), frequencies[order], width=1.0, color="tab:blue")
    ax.set_xlabel("code (by frequency)" if sort else "code index")
    ax.set_ylabel("frequency")
    used = int((counts > 0).sum())
    summary = f"perplexity {spread:.1f} · entropy {np.log2(spread):.2f} bits · {used}/{len(counts)} used"
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=8)
    return fig


def channel_slices(
    original: torch.Tensor,
    reconstructions: dict[str, torch.Tensor],
    *,
    row: int | None = None,
    size: tuple[float, float] = (10.0, 2.4),
) -> Figure:
    """One image row, channel by channel: R, G and B intensity along the row for the original (3, H, W)
    (black) and each reconstruction (same shape) in ``reconstructions``; ``row`` defaults to the middle."""
    for name, image in {"original": original, **reconstructions}.items():
        if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
            got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"{name} must be one image (3, H, W); got {got}")
        if image.shape != original.shape:
            raise ValueError(f"{name} must have the original's shape {tuple(original.shape)}")
    height = original.shape[1]
    row = height // 2 if row is None else row
    if not 0 <= row < height:
        raise ValueError(f"row must be in [0, {height}); got {row}")
    fig, axes = plt.subplots(1, 3, figsize=size, sharey=True)
    columns = np.arange(original.shape[2])
    for channel, (ax, (name, colour)) in enumerate(zip(axes, CHANNELS, strict=True)):
        ax.plot(
            columns, original[channel, row].detach().cpu().numpy(), color="black", lw=1.6, label="original"
        )
        for label, image in reconstructions.items():
            ax.plot(columns, image[channel, row].detach().cpu().numpy(), lw=1.0, label=label)
        ax.set_title(f"{name} channel, row {row}", fontsize=8, color=colour)
        ax.set_xlabel("column")
    axes[0].set_ylabel("intensity")
    axes[-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


_COLORS = {"vq": "tab:gray", "mp": "tab:orange", "omp": "tab:blue"}
_LABELS = {"vq": "VQ (k-means)", "mp": "matching pursuit", "omp": "exact OMP"}


def coder_rate_distortion(
    rows,
    *,
    baselines: dict[str, list[tuple[float, float]]] | None = None,
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """MSE against bits per pixel (both axes log) for rows of :func:`laserlab.experiments.pixels.compare`.

    One line per (method, fit set): VQ over its codebook sizes, MP and OMP over S (labelled at each point).
    Held-out fits are solid, in-sample fits (any ``fitted_on`` label containing "in-sample") dashed. Rows
    with MSE 0 are drawn at the bottom of the axis. ``baselines`` maps reference codecs on the same test
    images to their (bpp of real files, MSE) pairs (e.g.
    ``laserlab.codecs.BaselineCurves.curves("mse")``), drawn in grey.
    """
    fig, ax = figure_axes(ax, (6, 4))
    draw_baselines(ax, baselines)
    groups: dict[tuple[str, str], list] = {}
    for row in rows:
        groups.setdefault((row.method, row.fitted_on), []).append(row)
    positive = [r.mse for r in rows if r.mse > 0] + [
        v for pairs in (baselines or {}).values() for _, v in pairs if v > 0
    ]
    floor = min(positive) / 2 if positive else 1e-12
    for (method, fitted_on), members in groups.items():
        members = sorted(members, key=lambda r: r.bits_per_pixel)
        in_sample = "in-sample" in fitted_on
        ax.plot(
            [r.bits_per_pixel for r in members], [max(r.mse, floor) for r in members],
            marker="o", linestyle="--" if in_sample else "-", color=_COLORS.get(method),
            alpha=0.5 if in_sample else 1.0, label=f"{_LABELS.get(method, method)}, fitted on {fitted_on}",
        )  # fmt: skip
        for r in members:
            tag = f"K={r.num_atoms}" if method == "vq" else f"S={r.sparsity}"
            ax.annotate(tag, (r.bits_per_pixel, max(r.mse, floor)), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
    ax.set_yscale("log")
    log_rate_axis(ax)  # rates span 0.03 (baselines) to 43 bits per pixel (S = 4 on pixels)
    ax.set_xlabel(
        "bits per pixel (fixed rate; baselines: real files)" if baselines else "bits per pixel (fixed rate)"
    )
    ax.set_ylabel("MSE on held-out test images")
    ax.set_title(title)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
