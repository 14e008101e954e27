"""Figures for perceptual distances: score tables, LPIPS spatial maps, calibration learning curves."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from .layout import figure_axes


def score_table(
    scores: dict[str, dict[str, float]],
    *,
    title: str = "",
    references: tuple[str, ...] = (),
    vmin: float | None = None,
    vmax: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heat map of ``scores[row][column]`` (e.g. measure × distortion family), each cell annotated.

    Columns are the union of the rows' keys in order of appearance; a missing cell is left blank. The
    best (largest) value of each column among the rows not named in ``references`` (e.g. an oracle) is
    printed in bold.
    """
    rows = list(scores)
    if not rows:
        raise ValueError("scores must hold at least one row")
    columns = list(dict.fromkeys(c for r in rows for c in scores[r]))
    values = np.array([[scores[r].get(c, math.nan) for c in columns] for r in rows], dtype=float)
    _, ax = figure_axes(ax, (1.1 * len(columns) + 2.2, 0.45 * len(rows) + 1.2))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    compared = np.array([r not in references for r in rows])
    best = np.max(np.where(np.isnan(values) | ~compared[:, None], -np.inf, values), axis=0)
    low, high = image.get_clim()
    for i in range(len(rows)):
        for j in range(len(columns)):
            if math.isnan(values[i, j]):
                continue
            light = (values[i, j] - low) / (high - low or 1) < 0.6
            ax.text(
                j,
                i,
                f"{values[i, j]:.3f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if light else "black",
                fontweight="bold" if values[i, j] == best[j] else "normal",
            )
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.04)
    ax.figure.tight_layout()
    return ax.figure


def distance_maps(
    images: torch.Tensor,
    references: torch.Tensor,
    maps: torch.Tensor,
    *,
    titles: list[str] | None = None,
    gamma: float = 0.5,
    size: float = 1.7,
) -> Figure:
    """Columns of (reference, distorted image, distance map) for images and references (N, 3, H, W) in
    [0, 1] and maps (N, H, W). The maps share one colour scale, a power law with exponent ``gamma`` (< 1
    keeps faint differences visible next to strong ones; 1 is linear)."""
    n = images.shape[0]
    if references.shape != images.shape or maps.shape != (n, *images.shape[-2:]):
        raise ValueError(
            "images and references must be (N, 3, H, W) and maps (N, H, W) alike; got "
            f"{tuple(images.shape)}, {tuple(references.shape)}, {tuple(maps.shape)}"
        )
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}); got {len(titles)}")
    fig, axes = plt.subplots(3, n, figsize=(size * n + 0.8, size * 3), squeeze=False)
    maps = maps.detach().cpu().float()
    vmax = float(maps.max()) or 1.0
    for j in range(n):
        for i, picture in enumerate((references[j], images[j])):
            axes[i, j].imshow(picture.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        shown = axes[2, j].imshow(maps[j].numpy(), cmap="magma", norm=PowerNorm(gamma, vmin=0, vmax=vmax))
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=7)
        for i in range(3):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for i, label in enumerate(("reference", "distorted", "distance map")):
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.colorbar(shown, ax=axes[2, :].tolist(), fraction=0.02)
    return fig


def learning_curve(result) -> Figure:
    """Loss per step and per epoch, training accuracy and validation 2AFC score per epoch, with the
    learning rate, from a :class:`~laserlab.perceptual.lpips_training.TrainingResult`."""
    epochs = [log.epoch for log in result.epochs]
    if not epochs:
        raise ValueError("result holds no epochs")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    steps = np.arange(1, len(result.step_losses) + 1)
    per_epoch = len(result.step_losses) / len(epochs)
    left.plot(steps / per_epoch, result.step_losses, color="0.7", lw=0.8, label="per step")
    left.plot(epochs, [log.loss for log in result.epochs], "o-", label="epoch mean")
    left.set_xlabel("epoch")
    left.set_ylabel("BCE loss")
    left.legend(fontsize=8)
    right.plot(epochs, [log.accuracy for log in result.epochs], "o-", label="training accuracy")
    validation = [log.validation_score for log in result.epochs]
    if validation[0] is not None:
        right.plot(
            [0, *epochs], [result.initial_validation_score, *validation], "s-", label="validation 2AFC score"
        )
    right.set_xlabel("epoch")
    right.set_ylabel("agreement with judges")
    right.legend(fontsize=8, loc="lower right")
    lr_axis = right.twinx()
    lr_axis.step(epochs, [log.lr for log in result.epochs], where="mid", color="0.6", ls="--", lw=0.8)
    lr_axis.set_ylabel("learning rate", color="0.5")
    lr_axis.set_ylim(0, max(log.lr for log in result.epochs) * 1.1)
    fig.suptitle(f"LPIPS calibration ({result.variant})", fontsize=10)
    fig.tight_layout()
    return fig
