"""Exact power-of-two rescaling, so that float computations neither overflow nor underflow.

Multiplying a float by a power of two changes only its exponent, so it is exact unless the result leaves the
dtype's normal range. An algorithm that is homogeneous in its inputs — OMP is scale-equivariant
(code(s·x) = s·code(x)), k-means and K-SVD too, Wasserstein Distortion is quadratic — can therefore run on
inputs brought to magnitude ~1 and rescale its results exactly. In float32 this matters early: squares of
1e20 (or 1e-20) overflow (underflow), so a residual energy or a variance of such inputs is inf (or 0).

The library rescales only inputs whose magnitude lies outside :func:`safe_range`, so that everything
inside it (all realistic data) runs exactly the arithmetic it would without this module, bit for bit.

- :func:`peak` — max |x| (over everything or per row) with the finiteness check in the same pass;
- :func:`safe_range` — magnitudes that need no rescaling in a dtype;
- :func:`exponents` — the power of two that brings each peak to [0.5, 1);
- :func:`outside_safe_range`, :func:`row_shifts`, :func:`common_exponent` — which magnitudes need
  rescaling, and by which power of two (per row, or one for a whole tensor);
- :func:`ldexp` — x · 2^k exactly (up to the final rounding into the dtype), for any integer k;
- :func:`unit_rows`, :func:`row_norms` — rows divided by their norm, and the norms, for rows of any
  magnitude.
"""

from __future__ import annotations

import math

import torch

from .checks import check_float_tensor


def _max_exponent(dtype: torch.dtype) -> int:
    """e with 2^(e-1) <= finfo.max < 2^e: 128 for float32, 1024 for float64."""
    return math.frexp(torch.finfo(dtype).max)[1]


def safe_range(dtype: torch.dtype) -> tuple[float, float]:
    """(2^-B, 2^B) with B = maxexp // 4 (32 for float32, 256 for float64): magnitudes whose squares, and
    sums of up to 2^40 such squares, are normal numbers of ``dtype`` with room to spare."""
    bound = _max_exponent(dtype) // 4
    return 2.0**-bound, 2.0**bound


def peak(x: torch.Tensor, name: str, *, rows: bool = False) -> tuple[torch.Tensor, float, float]:
    """Max |x| of a float tensor, and its finiteness check, in one pass and one host sync.

    Returns ``(peaks, smallest, largest)``: ``peaks`` the 0-d max |x| (with ``rows``: the (N,) max |x| of
    each row x[n], over all its other dimensions), ``largest`` the largest of them and ``smallest`` the
    smallest non-zero one (inf when all are 0), as Python floats. A NaN or Inf anywhere in ``x`` is a
    ``ValueError`` naming ``name``. An empty ``x`` has peaks 0.
    """
    check_float_tensor(x, name)
    x = x.detach()
    if x.numel() == 0:
        return x.new_zeros(x.shape[0] if rows else ()), float("inf"), 0.0
    if rows:
        peaks = x.reshape(x.shape[0], -1).abs().amax(dim=1)
    else:
        low, high = torch.aminmax(x)
        peaks = torch.maximum(-low, high)  # NaN propagates through min, max and maximum
    nonzero = torch.where(peaks > 0, peaks, torch.full_like(peaks, torch.inf))
    largest, smallest = torch.stack([peaks.amax(), nonzero.amin()]).tolist()
    if not largest < float("inf"):  # also NaN
        raise ValueError(f"{name} must be finite; it contains NaN or Inf")
    return peaks, smallest, largest


def in_safe_range(smallest: float, largest: float, dtype: torch.dtype) -> bool:
    """Whether non-zero magnitudes between ``smallest`` and ``largest`` need no rescaling in ``dtype``."""
    low, high = safe_range(dtype)
    return largest <= high and (smallest >= low or smallest == float("inf"))


def exponents(peaks: torch.Tensor) -> torch.Tensor:
    """The int32 exponents k with peaks = m·2^k, m in [0.5, 1) (``frexp``; 0 where a peak is 0): dividing
    by 2^k brings each peak to [0.5, 1)."""
    return torch.frexp(peaks).exponent


def outside_safe_range(peaks: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool mask of the ``peaks`` (magnitudes >= 0) that are non-zero and outside :func:`safe_range`."""
    low, high = safe_range(dtype)
    return (peaks > high) | ((peaks > 0) & (peaks < low))


def row_shifts(peaks: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Per-peak int32 exponents: :func:`exponents` where a peak is outside the safe range, 0 elsewhere (so
    that rows inside it run unscaled)."""
    shifts = exponents(peaks)
    return torch.where(outside_safe_range(peaks, dtype), shifts, torch.zeros_like(shifts))


def common_exponent(smallest: float, largest: float, dtype: torch.dtype) -> int | None:
    """None when non-zero magnitudes between ``smallest`` and ``largest`` are in the safe range, else the
    one exponent k (of ``largest``, as :func:`exponents`) that brings the largest to [0.5, 1)."""
    if in_safe_range(smallest, largest, dtype):
        return None
    return math.frexp(largest)[1]


def _power_of_two(exponent: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """2^k as ``dtype``, built from its bit pattern (exact), for integer k within the normal range."""
    if dtype == torch.float32:
        return ((exponent.to(torch.int32) + 127) << 23).view(torch.float32)
    if dtype == torch.float64:
        return ((exponent.to(torch.int64) + 1023) << 52).view(torch.float64)
    raise TypeError(f"ldexp needs a float32 or float64 tensor; got {dtype}")


def ldexp(x: torch.Tensor, exponent: torch.Tensor | int) -> torch.Tensor:
    """x · 2^exponent for float32 or float64 ``x`` and integer ``exponent`` (broadcastable), exact except
    for the final rounding into the dtype (overflow gives ±inf, underflow a subnormal or 0).

    The factor is applied in three normal powers of two, each exact, so any exponent arising from the
    ratio of two finite values of the dtype is covered. Differentiable in ``x``.
    """
    if not isinstance(exponent, torch.Tensor):
        exponent = torch.tensor(exponent, device=x.device)
    bound = _max_exponent(x.dtype) - 2
    exponent = exponent.to(device=x.device, dtype=torch.int64)
    for _ in range(3):
        step = exponent.clamp(-bound, bound)
        x = x * _power_of_two(step, x.dtype)
        exponent = exponent - step
    return x


def _shifts_if_needed(x: torch.Tensor, dim: int) -> torch.Tensor | None:
    """Per-row exponents (keepdim) that bring rows outside the safe range to [0.5, 1), 0 for the others;
    None when every row is inside (one host sync) or there are none."""
    if x.numel() == 0:
        return None
    peaks = x.detach().abs().amax(dim=dim, keepdim=True)
    if not bool(outside_safe_range(peaks, x.dtype).any()):
        return None
    return row_shifts(peaks, x.dtype)


def unit_rows(x: torch.Tensor, *, dim: int = 1) -> torch.Tensor:
    """``torch.nn.functional.normalize(x, dim=dim)`` — each row divided by its Euclidean norm, zero rows
    kept zero — for rows of any finite magnitude: a row whose max |x| lies outside :func:`safe_range`
    (whose squared norm would overflow to inf or underflow below the normalize's eps) is first brought to
    magnitude ~1 by an exact power of two. Rows inside the range take exactly the plain path. One host
    sync; differentiable in ``x``."""
    check_float_tensor(x, "x")
    shifts = _shifts_if_needed(x, dim)
    if shifts is not None:
        x = ldexp(x, -shifts)
    return torch.nn.functional.normalize(x, dim=dim)


def row_norms(x: torch.Tensor, *, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """``torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim)`` for rows of any finite magnitude: rows
    outside :func:`safe_range` are measured after an exact power-of-two rescaling, so a norm is inf only
    where it exceeds the dtype's range itself. One host sync; differentiable in ``x``."""
    check_float_tensor(x, "x")
    shifts = _shifts_if_needed(x, dim)
    if shifts is None:
        return torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim)
    norms = ldexp(torch.linalg.vector_norm(ldexp(x, -shifts), dim=dim, keepdim=True), shifts)
    return norms if keepdim else norms.squeeze(dim)
