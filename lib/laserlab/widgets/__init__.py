"""ipywidgets explorers. Each returns an ipywidgets container; notebooks also draw its static figure."""

from .codebook import codebook_explorer, codebook_explorer_figure
from .sigma import sigma_explorer, sigma_explorer_figure
from .sparsity import sparsity_explorer, sparsity_explorer_figure

__all__ = [
    "codebook_explorer",
    "codebook_explorer_figure",
    "sigma_explorer",
    "sigma_explorer_figure",
    "sparsity_explorer",
    "sparsity_explorer_figure",
]
