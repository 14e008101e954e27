"""Figure plumbing shared by the viz functions: draw into a given axes, or into a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def figure_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)``, or a new figure of ``size`` (width, height) inches with one axes when ``ax`` is
    ``None``: how every viz function that takes ``ax=`` gets its canvas."""
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax
