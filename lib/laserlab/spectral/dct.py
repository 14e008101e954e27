"""Orthonormal DCT-II / DCT-III over whole images, as matrix products.

The DCT-II matrix P (n, n) has rows ``P[u, i] = c_u cos(π (2i + 1) u / (2n))`` with ``c_0 = sqrt(1/n)`` and
``c_u = sqrt(2/n)``; it is orthogonal, so the DCT-III (the inverse) is ``Pᵀ``. For an image x (H, W) the 2-D
spectrum is ``F = P_H x P_Wᵀ`` and ``x = P_Hᵀ F P_W`` — any H and W, no blocks, no padding.
"""

from __future__ import annotations

import functools
import math

import torch

from ..checks import check_tensor


@functools.lru_cache(maxsize=64)
def _dct_matrix_cached(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Built in float64 then cast, so float32 matrices are orthonormal to rounding. Built outside inference
    # mode: a cached inference tensor (first requested under Lightning's validation, say) could never again
    # be saved for backward, and every later differentiable call of that size would fail.
    with torch.inference_mode(False):
        u = torch.arange(size, dtype=torch.float64).unsqueeze(1)
        i = torch.arange(size, dtype=torch.float64).unsqueeze(0)
        matrix = torch.cos(math.pi * (2 * i + 1) * u / (2 * size)) * math.sqrt(2.0 / size)
        matrix[0] /= math.sqrt(2.0)
        return matrix.to(dtype=dtype, device=device)


def dct_matrix(
    size: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Orthonormal DCT-II matrix (size, size), cached per (size, dtype, device); its transpose is DCT-III."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int; got {size!r}")
    return _dct_matrix_cached(size, dtype, torch.device(device))


def dct_2d(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of each channel: x (B, C, H, W) → spectrum (B, C, H, W); index (u, v) = (row
    frequency, column frequency), DC at (0, 0). Differentiable."""
    check_tensor(x, "x", shape="(B, C, H, W)")
    rows = dct_matrix(x.shape[-2], dtype=x.dtype, device=x.device)
    cols = dct_matrix(x.shape[-1], dtype=x.dtype, device=x.device)
    return rows @ x @ cols.T


def idct_2d(spectrum: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct_2d` (orthonormal DCT-III): spectrum (B, C, H, W) → image (B, C, H, W)."""
    check_tensor(spectrum, "spectrum", shape="(B, C, H, W)")
    rows = dct_matrix(spectrum.shape[-2], dtype=spectrum.dtype, device=spectrum.device)
    cols = dct_matrix(spectrum.shape[-1], dtype=spectrum.dtype, device=spectrum.device)
    return rows.T @ spectrum @ cols
