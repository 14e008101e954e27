"""Figures of discrete codes: rate–distortion of VQ and sparse coders."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

_COLORS = {"vq": "tab:gray", "mp": "tab:orange", "omp": "tab:blue"}
_LABELS = {"vq": "VQ (k-means)", "mp": "matching pursuit", "omp": "exact OMP"}


def rate_distortion(rows, *, title: str = "", ax: Axes | None = None) -> Figure:
    """MSE (log scale) against bits per pixel for rows of :func:`laserlab.experiments.pixels.compare`.

    One line per (method, fit set): VQ over its codebook sizes, MP and OMP over S (labelled at each point).
    Held-out fits are solid, in-sample fits (any ``fitted_on`` label containing "in-sample") dashed. Rows
    with MSE 0 are drawn at the bottom of the axis.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    groups: dict[tuple[str, str], list] = {}
    for row in rows:
        groups.setdefault((row.method, row.fitted_on), []).append(row)
    positive = [r.mse for r in rows if r.mse > 0]
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
    ax.set_xlabel("bits per pixel (fixed rate)")
    ax.set_ylabel("MSE on held-out test images")
    ax.set_title(title)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
