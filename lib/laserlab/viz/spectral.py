"""Figures for spectral regularisation: DCT masks, truncated images, PSNR against τ, convergence curves."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..checks import check_images, check_number, check_positive_int
from ..perceptual.quality import psnr
from ..spectral import MASK_KINDS, passband_fraction, spectral_mask, truncate
from ..spectral.truncation import check_kind, check_tau
from .layout import figure_axes

#: PSNRs above this are rounding error of an identity truncation, drawn off-scale
IDENTITY_DB = 100.0


def _check_taus(taus) -> list[float]:
    if isinstance(taus, str) or not isinstance(taus, Sequence | np.ndarray):
        raise TypeError(f"taus must be a non-empty sequence of cutoffs in (0, 1]; got {taus!r}")
    if len(taus) == 0:
        raise ValueError(f"taus must be a non-empty sequence of cutoffs in (0, 1]; got {taus!r}")
    taus = [float(tau) if isinstance(tau, np.floating) else tau for tau in taus]
    for i, tau in enumerate(taus):
        check_tau(tau, f"taus[{i}]")
    return taus


def _as_batch(images, name: str) -> torch.Tensor:
    """(3, H, W) / (B, 3, H, W) tensors or (H, W, 3) / (B, H, W, 3) arrays in [0, 1] → (B, 3, H, W)."""
    if isinstance(images, np.ndarray):
        expected = f"{name} must be a float array (H, W, 3) or (B, H, W, 3) in [0, 1]"
        if images.dtype.kind != "f":
            raise TypeError(f"{expected}; got {images.dtype} {images.shape}")
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(f"{expected}; got {images.dtype} {images.shape}")
        images = torch.from_numpy(np.ascontiguousarray(images)).movedim(-1, -3)
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor (3, H, W) or (B, 3, H, W) in [0, 1]; got {type(images).__name__}"
        )
    if images.dim() not in (3, 4):
        raise ValueError(
            f"{name} must be a tensor (3, H, W) or (B, 3, H, W) in [0, 1]; got {tuple(images.shape)}"
        )
    batch = images.detach().cpu()
    batch = batch[None] if batch.dim() == 3 else batch
    check_images(batch, name)
    return batch


def _truncation_and_psnr(images: torch.Tensor, tau: float, kind: str) -> tuple[torch.Tensor, float]:
    # clamped to [0, 1], as training sees it (SpectralTruncation clamps); mean of the per-image PSNRs
    truncated = truncate(images, tau, kind=kind).clamp(0, 1)
    return truncated, float(psnr(truncated, images).mean())


def dct_masks(taus: Sequence[float], *, size: tuple[int, int] = (64, 64), kind: str = "radial") -> Figure:
    """A row of :func:`~laserlab.spectral.spectral_mask` images, one per τ, on one colour scale [0, 1].

    DC sits at the top-left; the axes are the normalised frequencies u/H (down) and v/W (across). Titles
    give τ and the share of coefficients the mask passes (M > 0) at ``size`` = (H, W).
    """
    taus = _check_taus(taus)
    check_kind(kind)
    if not isinstance(size, tuple | list):
        raise TypeError(f"size must be (height, width); got {size!r}")
    if len(size) != 2:
        raise ValueError(f"size must be (height, width); got {size!r}")
    height, width = size
    check_positive_int(height, "size[0]")
    check_positive_int(width, "size[1]")
    fig, axes = plt.subplots(1, len(taus), figsize=(2.3 * len(taus) + 0.9, 2.6), squeeze=False)
    image = None
    for ax, tau in zip(axes[0], taus, strict=True):
        mask = spectral_mask(height, width, tau, kind=kind, dtype=torch.float64)
        image = ax.imshow(
            mask.numpy(), cmap="gray", vmin=0, vmax=1, extent=(0, 1, 1, 0), interpolation="nearest"
        )
        share = 100 * passband_fraction(height, width, tau, kind=kind)
        ax.set_title(f"τ = {tau:g}\n{share:.2f} % pass", fontsize=8)
        ax.set_xlabel("v/W", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("u/H", fontsize=8)
    fig.colorbar(image, ax=axes.ravel().tolist(), label=f"mask M ({kind})", shrink=0.85)
    return fig


def truncation_gallery(image, taus: Sequence[float], *, kind: str = "radial", size: float = 2.2) -> Figure:
    """The original image, then :func:`~laserlab.spectral.truncate` at each τ, PSNR against the original
    in each title (of the truncation clamped to [0, 1], as training sees it; clamped for display too).

    ``image``: a tensor (3, H, W) or an array (H, W, 3), floats in [0, 1].
    """
    taus = _check_taus(taus)
    check_kind(kind)
    batch = _as_batch(image, "image")
    if batch.shape[0] != 1:
        raise ValueError(f"image must be one image (3, H, W) or (H, W, 3); got a batch {tuple(batch.shape)}")
    ncols = 1 + len(taus)
    fig, axes = plt.subplots(1, ncols, figsize=(size * ncols, size + 0.4), squeeze=False)
    axes = axes[0]
    axes[0].imshow(batch[0].permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0].set_title("original", fontsize=8)
    for ax, tau in zip(axes[1:], taus, strict=True):
        truncated, value = _truncation_and_psnr(batch, tau, kind)
        ax.imshow(truncated[0].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(f"τ = {tau:g}\n{value:.2f} dB", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def psnr_vs_tau(
    image_or_images, taus: Sequence[float], *, kinds: Sequence[str] = ("radial",), ax: Axes | None = None
) -> Figure:
    """PSNR of the truncated images against the originals as τ grows, one line per mask kind; the share
    of coefficients each mask passes is drawn dashed on a twin axis (%).

    ``image_or_images``: (3, H, W) / (B, 3, H, W) tensors or (H, W, 3) / (B, H, W, 3) arrays in [0, 1]; for a
    batch the mean of the per-image PSNRs is shown. Truncations are clamped to [0, 1] first.
    """
    taus = _check_taus(taus)
    expected = f"kinds must be a non-empty sequence of mask kinds from {list(MASK_KINDS)}; got {kinds!r}"
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise TypeError(expected)
    if not kinds:
        raise ValueError(expected)
    for i, kind in enumerate(kinds):
        check_kind(kind, f"kinds[{i}]")
    batch = _as_batch(image_or_images, "image_or_images")
    _, ax = figure_axes(ax, (5, 3.4))
    share_axis = ax.twinx()
    height, width = batch.shape[-2:]
    finite_top = -math.inf
    for kind in kinds:
        values = [_truncation_and_psnr(batch, tau, kind)[1] for tau in taus]
        # a mask passing every coefficient (the square cut at τ = 1) is the identity: only rounding error is
        # left, hundreds of dB (or inf) that would flatten the other curves; those points go off the top
        exact = [v for v in values if v < IDENTITY_DB]
        finite_top = max(finite_top, *exact) if exact else finite_top
        label = kind if len(exact) == len(values) else f"{kind} (↑ identity)"
        (line,) = ax.plot(taus, values, "o-", ms=3, label=label)
        shares = [100 * passband_fraction(height, width, tau, kind=kind) for tau in taus]
        share_axis.plot(taus, shares, "--", lw=0.8, color=line.get_color(), label=f"{kind} passband")
    if math.isfinite(finite_top):
        ax.set_ylim(top=finite_top + 3)
    ax.set_xlabel("τ")
    ax.set_ylabel("PSNR vs original (dB)")
    share_axis.set_ylabel("coefficients passed (%)", color="0.4")
    share_axis.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=8, loc="upper left", title=f"{batch.shape[0]} image(s), {height}×{width}", title_fontsize=7
    )
    ax.set_title("truncation: PSNR (solid) and passband (dashed)", fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def _first_at_or_below(points: list[tuple[float, float]], target: float) -> tuple[float, float] | None:
    return next(((step, value) for step, value in points if value <= target), None)


def convergence_curves(
    histories: dict[str, Sequence[tuple[float, float]]],
    *,
    target: float | None = None,
    ax: Axes | None = None,
    ylabel: str = "validation MSE",
    log_y: bool = True,
) -> Figure:
    """One line per run, ``histories`` mapping a label to its (step, value) pairs (sorted by step here).

    ``target`` (e.g. the baseline's final value) draws a dashed horizontal line labelled "baseline final"
    and marks, on each curve, the first step at or below it, with the step in the legend — the
    "steps to reach the baseline" behind a convergence speed-up.
    """
    if not isinstance(histories, dict):
        raise TypeError(
            f"histories must be a non-empty {{label: [(step, value), ...]}}; got {type(histories).__name__}"
        )
    if not histories:
        raise ValueError("histories must be a non-empty {label: [(step, value), ...]}")
    curves = {}
    for label, history in histories.items():
        try:
            points = sorted((float(step), float(value)) for step, value in history)
        except (TypeError, ValueError):
            points = None
        if not points or not all(math.isfinite(s) and math.isfinite(v) for s, v in points):
            raise ValueError(f"histories[{label!r}] must be a non-empty list of finite (step, value) pairs")
        if log_y and min(v for _, v in points) <= 0:
            raise ValueError(f"histories[{label!r}] must hold positive values for log_y=True")
        curves[label] = points
    if target is not None:
        check_number(target, "target")
        if log_y and target <= 0:
            raise ValueError(f"target must be positive for log_y=True; got {target!r}")
    _, ax = figure_axes(ax, (5.2, 3.4))
    for label, points in curves.items():
        steps, values = zip(*points, strict=True)
        (line,) = ax.plot(steps, values, "-" if len(points) > 8 else "o-", lw=1.2, ms=3, label=label)
        reached = None if target is None else _first_at_or_below(points, target)
        if reached is not None:
            ax.plot(
                *reached,
                "o",
                ms=7,
                mfc="none",
                mew=1.5,
                color=line.get_color(),
                label=f"{label}: step {reached[0]:g}",
            )
            ax.axvline(reached[0], color=line.get_color(), ls=":", lw=0.8)
    if target is not None:
        ax.axhline(target, color="0.3", ls="--", lw=1, label="baseline final")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.figure.tight_layout()
    return ax.figure
