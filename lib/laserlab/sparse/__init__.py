"""Sparse coding, dictionary learning and k-means as pure tensor functions.

- :mod:`~laserlab.sparse.omp`: :func:`code` (the coder chosen by name, one of :data:`SOLVERS`), :func:`omp`
  (exact Batch-OMP), :func:`matching_pursuit`, and :class:`SparseCode`, the one sparse-code type.
- :mod:`~laserlab.sparse.kmeans`: :func:`kmeans` (random-row or k-means++ start, spherical, normalised),
  :func:`nearest_codeword`.
- :mod:`~laserlab.sparse.ksvd`: :func:`ksvd_update` (exact and approximate K-SVD sweeps).
- :mod:`~laserlab.sparse.online`: :func:`online_init`, :func:`online_update` (Mairal et al.).
- :mod:`~laserlab.sparse.atoms`: :func:`replace_unused_atoms`, :func:`coherent_atoms`.
- :mod:`~laserlab.sparse.rate`: bits per token / per pixel, :func:`~laserlab.sparse.rate.quantize_values`
  and :func:`~laserlab.sparse.rate.dequantize` (:class:`~laserlab.sparse.rate.QuantizedCode`).
- :mod:`~laserlab.sparse.analysis`: coherence, usage, perplexity, 2-D embeddings of codebooks.

Signals are rows (N, M), dictionaries rows of atoms (K, M); float32 or float64, on any device.
"""

from .atoms import coherent_atoms, replace_unused_atoms
from .kmeans import KMeansResult, kmeans, nearest_codeword
from .ksvd import DictionaryUpdate, ksvd_update
from .omp import SOLVERS, SparseCode, code, matching_pursuit, omp
from .online import OnlineState, online_init, online_update

__all__ = [
    "SOLVERS",
    "DictionaryUpdate",
    "KMeansResult",
    "OnlineState",
    "SparseCode",
    "code",
    "coherent_atoms",
    "kmeans",
    "ksvd_update",
    "matching_pursuit",
    "nearest_codeword",
    "omp",
    "online_init",
    "online_update",
    "replace_unused_atoms",
]
