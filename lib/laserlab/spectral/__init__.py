"""Spectral tools and regularisers for hierarchical codecs (Cong et al., ICLR 2026).

- :mod:`.dct` — whole-image orthonormal DCT-II / DCT-III (``dct_2d``, ``idct_2d``, cached matrices);
- :mod:`.truncation` — phase 1: the radial DCT mask, ``truncate`` and the ``SpectralTruncation``
  curriculum (a Lightning callback);
- :mod:`.interscale` — phase 2: the orthonormal Haar DWT and the ``CrossScalePenalty`` between latents
  (a predictor trained by L2, the codec pushed away by gradient reversal) and
  ``cross_scale_redundancy`` (R² of the best affine prediction, to measure what phase 2 changes).
"""

from .dct import dct_2d, dct_matrix, idct_2d
from .interscale import CrossScalePenalty, cross_scale_redundancy, haar_dwt, haar_idwt, reverse_gradient
from .truncation import MASK_KINDS, SpectralTruncation, passband_fraction, spectral_mask, truncate

__all__ = [
    "MASK_KINDS",
    "CrossScalePenalty",
    "SpectralTruncation",
    "cross_scale_redundancy",
    "dct_2d",
    "dct_matrix",
    "haar_dwt",
    "haar_idwt",
    "idct_2d",
    "passband_fraction",
    "reverse_gradient",
    "spectral_mask",
    "truncate",
]
