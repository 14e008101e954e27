"""Figures for trained autoencoders and codecs: reconstructions with error maps, training curves,
rate–distortion (one metric, or one panel per metric)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .layout import draw_baselines, figure_axes, log_rate_axis

#: axis labels of :func:`rate_distortion_panels` by metric name
DEFAULT_YLABELS = {
    "psnr": "PSNR (dB)",
    "ms_ssim": "MS-SSIM (1 = identical)",
    "lpips": "LPIPS (lower is better)",
}


def reconstruction_grid(
    originals: torch.Tensor,
    reconstructions: dict[str, torch.Tensor],
    *,
    error_max: float | None = None,
    size: float = 1.5,
) -> Figure:
    """One row per image: the original, then per model its reconstruction and |error| map.

    ``originals`` (N, 3, H, W) and each reconstruction (N, 3, H, W) in [0, 1]; the error map is the mean
    absolute error over channels, drawn on one shared colour scale [0, ``error_max``] (default: the 99th
    percentile over all maps) so models compare at a glance; column titles carry each model's PSNR over
    the shown images.
    """
    if originals.dim() != 4 or not reconstructions:
        raise ValueError(
            "originals must be (N, 3, H, W) and reconstructions a non-empty {label: (N, 3, H, W)}"
        )
    originals = originals.detach().cpu().float()
    recons = {label: r.detach().cpu().float() for label, r in reconstructions.items()}
    for label, r in recons.items():
        if r.shape != originals.shape:
            raise ValueError(
                f"reconstructions[{label!r}] must have the shape of originals {tuple(originals.shape)}; "
                f"got {tuple(r.shape)}"
            )
    errors = {label: (r - originals).abs().mean(1) for label, r in recons.items()}
    if error_max is None:
        error_max = float(torch.quantile(torch.cat([e.flatten() for e in errors.values()]), 0.99)) or 1e-6
    n = originals.shape[0]
    ncols = 1 + 2 * len(recons)
    fig, axes = plt.subplots(n, ncols, figsize=(size * ncols, size * n + 0.5), squeeze=False)
    image = None
    for row in range(n):
        axes[row, 0].imshow(originals[row].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        for k, label in enumerate(recons):
            axes[row, 1 + 2 * k].imshow(
                recons[label][row].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest"
            )
            image = axes[row, 2 + 2 * k].imshow(
                errors[label][row].numpy(), cmap="magma", vmin=0, vmax=error_max, interpolation="nearest"
            )
    axes[0, 0].set_title("original", fontsize=8)
    for k, (label, r) in enumerate(recons.items()):
        mse = (r - originals).square().flatten(1).mean(1).clamp_min(1e-12)
        psnr = float((10 * torch.log10(1 / mse)).mean())
        axes[0, 1 + 2 * k].set_title(f"{label}\n{psnr:.2f} dB", fontsize=8)
        axes[0, 2 + 2 * k].set_title(f"|error| {label}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(image, ax=axes, fraction=0.015, pad=0.01, label="mean |error| over channels")
    return fig


def training_curves(
    histories: dict[str, dict[str, list[tuple[int, float]]]],
    *,
    metrics: tuple[str, ...] = ("train/loss_step", "val/psnr"),
) -> Figure:
    """One panel per metric name, one line per model: ``histories`` maps a model label to
    :meth:`laserlab.train.FitResult.history` (``{column: [(step, value), ...]}``)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    handles = {}
    for ax, metric in zip(axes[0], metrics, strict=True):
        # one colour per model in every panel, also where some models did not log this metric
        for index, (label, history) in enumerate(histories.items()):
            points = history.get(metric, [])
            if points:
                steps, values = zip(*points, strict=True)
                style = "-" if len(points) > 8 else "o-"
                (handles[label],) = ax.plot(steps, values, style, lw=1, color=f"C{index % 10}", label=label)
        ax.set_xlabel("step")
        ax.set_title(metric, fontsize=9)
        ax.grid(alpha=0.3)
    ordered = [handles[label] for label in histories if label in handles]
    axes[0, 0].legend(ordered, [h.get_label() for h in ordered], fontsize=8)
    fig.tight_layout()
    return fig


def rate_distortion(
    points: dict[str, list[tuple[float, float]]],
    *,
    baselines: dict[str, list[tuple[float, float]]] | None = None,
    ylabel: str = "PSNR (dB)",
    xlabel: str = "bits per pixel",
    log_rate: bool = False,
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """Quality against bits per pixel: ``points`` maps a model (family) to its (bpp, quality) pairs,
    ``baselines`` a reference codec to its pairs on the same images (e.g.
    :meth:`laserlab.codecs.BaselineCurves.curves`, a WebP curve), drawn in grey. ``log_rate`` puts the
    rate on a log axis (baselines span two or three decades)."""
    fig, ax = figure_axes(ax, (5.6, 3.9))
    draw_baselines(ax, baselines)
    for label, pairs in points.items():
        pairs = sorted(pairs)
        rates, values = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        ax.plot(rates, values, "o-", label=label, zorder=2)
    if log_rate:
        log_rate_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def rate_distortion_panels(
    curves: dict[str, Sequence],
    *,
    metrics: Sequence[str] = ("psnr", "ms_ssim", "lpips"),
    baselines: Sequence[str] = (),
    ylabels: dict[str, str] | None = None,
    xlabel: str = "bits per pixel (coded files)",
    title: str = "",
) -> Figure:
    """One :func:`rate_distortion` panel per metric, side by side, on a log-rate axis.

    ``curves`` maps a label to its :class:`laserlab.codecs.RDPoint` s (each evaluated with every metric
    of ``metrics``); the labels named in ``baselines`` are drawn as grey reference curves behind the
    others. ``ylabels`` overrides a panel's axis label (default: the metric's name and unit, e.g.
    "PSNR (dB)").
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty {label: list of RDPoint}")
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"metrics must be a non-empty list of metric names; got {metrics!r}")
    unknown = [label for label in baselines if label not in curves]
    if unknown:
        raise ValueError(f"baselines must name curves; {unknown} are not among {list(curves)}")
    labels = {**DEFAULT_YLABELS, **(ylabels or {})}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.4 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        pairs = {label: [(p.bpp, p.value(metric)) for p in points] for label, points in curves.items()}
        rate_distortion(
            {label: values for label, values in pairs.items() if label not in baselines},
            baselines={label: pairs[label] for label in baselines},
            ylabel=labels.get(metric, metric),
            xlabel=xlabel,
            log_rate=True,
            ax=ax,
        )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
