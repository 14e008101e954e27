"""Matplotlib figures. Every function returns a ``Figure`` and draws into ``ax`` when one is given."""

from .codes import rate_distortion
from .images import image_grid
from .perceptual import distance_maps, learning_curve, score_table
from .sigma import sigma_maps, wasserstein_levels

__all__ = [
    "distance_maps",
    "image_grid",
    "learning_curve",
    "rate_distortion",
    "score_table",
    "sigma_maps",
    "wasserstein_levels",
]
