"""Spectral tools and regularisers for hierarchical codecs: whole-image orthonormal DCT (:mod:`.dct`)."""

from .dct import dct_2d, dct_matrix, idct_2d

__all__ = ["dct_2d", "dct_matrix", "idct_2d"]
