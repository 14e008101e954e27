"""Codebooks and dictionaries as point sets: 2-D embeddings, pairwise-distance histograms, coherence matrices.

The numbers come from :mod:`laserlab.sparse.analysis`; these functions only draw them.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..sparse.analysis import Embedding, coherence, mutual_coherence, pairwise_distances
from .layout import figure_axes

METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def codebook_embedding(
    embedding: Embedding,
    *,
    colors: torch.Tensor | np.ndarray | None = None,
    values: torch.Tensor | np.ndarray | None = None,
    value_label: str = "",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Scatter of an :class:`~laserlab.sparse.analysis.Embedding` (one point per codeword or atom).

    Colour each point by ``colors`` (K, 3) in [0, 1] (e.g. the codeword's mean colour) or by ``values``
    (K,) on a colour bar labelled ``value_label`` (e.g. usage), or by index when neither is given. PCA axes
    are labelled with the explained-variance share of each component, computed from the data.
    """
    if not isinstance(embedding, Embedding):
        raise TypeError(f"embedding must be an Embedding (laserlab.sparse.analysis.embed); got {embedding!r}")
    if colors is not None and values is not None:
        raise ValueError("give colors or values, not both")
    points = embedding.points
    count = points.shape[0]
    fig, ax = figure_axes(ax, (3.8, 3.4))
    style = {"s": 22, "edgecolors": "0.2", "linewidths": 0.4}
    if colors is not None:
        rgb = np.asarray(colors.detach().cpu() if isinstance(colors, torch.Tensor) else colors, float)
        if rgb.shape != (count, 3):
            raise ValueError(f"colors must have shape (K, 3) = ({count}, 3); got {rgb.shape}")
        ax.scatter(points[:, 0], points[:, 1], c=rgb.clip(0, 1), **style)
    else:
        shade = np.arange(count) if values is None else np.asarray(values, float).reshape(-1)
        if shade.shape != (count,):
            raise ValueError(f"values must have shape (K,) = ({count},); got {shade.shape}")
        scatter = ax.scatter(points[:, 0], points[:, 1], c=shade, cmap="viridis", **style)
        fig.colorbar(
            scatter, ax=ax, fraction=0.046, pad=0.04, label=value_label if values is not None else "index"
        )
    name = METHOD_NAMES[embedding.method]
    if embedding.explained_variance is not None:
        first, second = embedding.explained_variance
        ax.set_xlabel(f"PC1 ({100 * first:.1f}% of variance)", fontsize=8)
        ax.set_ylabel(f"PC2 ({100 * second:.1f}%)", fontsize=8)
        name += f", {100 * (first + second):.1f}% of variance in 2-D"
    else:
        ax.set_xlabel(f"{name} 1", fontsize=8)
        ax.set_ylabel(f"{name} 2", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"{title} — {name}" if title else name, fontsize=8)
    return fig


def distance_histogram(
    codebook: torch.Tensor, *, bins: int = 40, title: str | None = None, ax: Axes | None = None
) -> Figure:
    """Histogram of the Euclidean distances between all pairs of codewords or atoms (K, M), with the
    minimum and median marked: near-zero distances are duplicated codes."""
    distances = pairwise_distances(codebook).cpu().double().numpy()
    fig, ax = figure_axes(ax, (4.0, 2.6))
    ax.hist(distances, bins=bins, color="tab:gray")
    low, middle = float(distances.min()), float(np.median(distances))
    ax.axvline(low, color="tab:red", lw=1, label=f"min {low:.3g}")
    ax.axvline(middle, color="tab:blue", lw=1, ls="--", label=f"median {middle:.3g}")
    ax.set_xlabel("pairwise distance")
    ax.set_ylabel("pairs")
    ax.legend(fontsize=7)
    pairs = f"{len(distances)} pairs of {codebook.shape[0]}"
    ax.set_title(f"{title} ({pairs})" if title else pairs, fontsize=8)
    return fig


def coherence_matrix(dictionary: torch.Tensor, *, title: str | None = None, ax: Axes | None = None) -> Figure:
    """The |cosine| between every pair of atoms (K, M) as a K×K image on [0, 1], titled with the mutual
    coherence μ (largest off-diagonal entry)."""
    matrix = coherence(dictionary).cpu().double().numpy()
    fig, ax = figure_axes(ax, (3.8, 3.3))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="|cos|")
    ax.set_xlabel("atom", fontsize=8)
    ax.set_ylabel("atom", fontsize=8)
    ax.tick_params(labelsize=7)
    mu = f"mutual coherence μ = {mutual_coherence(dictionary):.3f}"
    ax.set_title(f"{title}\n{mu}" if title else mu, fontsize=8)
    return fig
