"""Matplotlib figures. Every function returns a ``Figure`` and draws into ``ax`` when one is given."""

from .images import image_grid
from .sigma import sigma_maps, wasserstein_levels

__all__ = ["image_grid", "sigma_maps", "wasserstein_levels"]
