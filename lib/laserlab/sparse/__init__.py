"""Sparse coding and dictionary learning as pure tensor functions; modules that own state wrap them elsewhere.

- :mod:`~laserlab.sparse.omp`: :func:`omp` (exact Batch-OMP), :func:`matching_pursuit`, :class:`SparseCode`.
- :mod:`~laserlab.sparse.ksvd`: :func:`ksvd_update` (exact and approximate K-SVD sweeps).
- :mod:`~laserlab.sparse.online`: :func:`online_init`, :func:`online_update` (Mairal et al.).
- :mod:`~laserlab.sparse.atoms`: :func:`kmeans_init`, :func:`replace_unused_atoms`, :func:`coherent_atoms`.
- :mod:`~laserlab.sparse.rate`: bits per token / per pixel, :func:`~laserlab.sparse.rate.quantize_values`.

Signals are rows (N, M), dictionaries rows of atoms (K, M); float32 or float64, on any device.
"""

from .atoms import coherent_atoms, kmeans_init, replace_unused_atoms
from .ksvd import DictionaryUpdate, ksvd_update
from .omp import SparseCode, matching_pursuit, omp
from .online import OnlineState, online_init, online_update

__all__ = [
    "DictionaryUpdate",
    "OnlineState",
    "SparseCode",
    "coherent_atoms",
    "kmeans_init",
    "ksvd_update",
    "matching_pursuit",
    "omp",
    "online_init",
    "online_update",
    "replace_unused_atoms",
]
