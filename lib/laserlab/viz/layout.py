"""Figure plumbing shared by the viz functions: draw into a given axes, or into a new figure; reference
curves drawn the same way in every rate–distortion figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter


def figure_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)``, or a new figure of ``size`` (width, height) inches with one axes when ``ax`` is
    ``None``: how every viz function that takes ``ax=`` gets its canvas."""
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


BASELINE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


def draw_baselines(ax: Axes, baselines: dict[str, list[tuple[float, float]]] | None) -> None:
    """Reference curves (``{label: (bpp, value) pairs}``: mean colour, thumbnail, standard codecs) in grey
    tones with their own line styles, behind the models' curves."""
    for index, (label, pairs) in enumerate((baselines or {}).items()):
        pairs = sorted(pairs)
        style = BASELINE_STYLES[index % len(BASELINE_STYLES)]
        marker = "s" if len(pairs) == 1 else "."
        ax.plot(
            [p[0] for p in pairs], [p[1] for p in pairs], linestyle=style, marker=marker,
            color=str(0.15 + 0.18 * (index % 4)), lw=1.2, ms=5, label=label, zorder=1,
        )  # fmt: skip


def log_rate_axis(ax: Axes) -> None:
    """A log-scale bits-per-pixel x axis labelled with plain numbers at 1, 2 and 5 per decade (labelled
    minor ticks collide on ranges shorter than a decade)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
