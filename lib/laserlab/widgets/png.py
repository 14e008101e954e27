"""Figures as PNG bytes for ``ipywidgets.Image``: the picture lives in the widget state, so it also shows in
saved notebooks and offline HTML reports."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def png_bytes(fig: Figure, *, dpi: int = 72) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
