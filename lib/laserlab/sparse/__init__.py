"""Sparse coding and dictionary learning as pure tensor functions (see DESIGN.md and notes/sparse_coding.md).

- :mod:`~laserlab.sparse.omp`: :func:`omp` (exact Batch-OMP), :func:`matching_pursuit`, :class:`SparseCode`.
"""

from .omp import SparseCode, matching_pursuit, omp

__all__ = ["SparseCode", "matching_pursuit", "omp"]
