"""ipywidgets explorers. Each returns an ipywidgets container; notebooks also draw its static figure."""

from .sigma import sigma_explorer, sigma_explorer_figure

__all__ = ["sigma_explorer", "sigma_explorer_figure"]
