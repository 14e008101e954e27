"""Bottleneck modules over :mod:`laserlab.sparse`; for now the patch-token helpers they share."""

from .patches import from_tokens, to_tokens, token_grid, token_map

__all__ = ["from_tokens", "to_tokens", "token_grid", "token_map"]
