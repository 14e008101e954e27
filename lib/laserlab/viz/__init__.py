"""Matplotlib figures. Every function returns a ``Figure`` and draws into ``ax`` when one is given."""

from .images import image_grid
from .perceptual import distance_maps, learning_curve, score_table
from .recon import rate_distortion, reconstruction_grid, training_curves
from .sigma import sigma_maps, wasserstein_levels

__all__ = [
    "distance_maps",
    "image_grid",
    "learning_curve",
    "rate_distortion",
    "reconstruction_grid",
    "score_table",
    "sigma_maps",
    "training_curves",
    "wasserstein_levels",
]
