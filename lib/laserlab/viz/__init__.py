"""Matplotlib figures. Every function returns a ``Figure`` and draws into ``ax`` when one is given."""

from .images import image_grid

__all__ = ["image_grid"]
