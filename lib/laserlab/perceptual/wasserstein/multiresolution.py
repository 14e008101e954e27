"""Wasserstein Distortion over several feature arrays per image, at different resolutions.

Each pair of arrays j gets the sigma map resized to its own grid (h_j, w_j) like
``jax.image.resize(..., "linear", antialias=True)`` — a separable triangle kernel on half-pixel centres,
widened by the scale factor when downsampling, weights renormalised — and then lowered by the log2 of the
size ratio, ½·(log2(H / h_j) + log2(W / w_j)), since each element of a smaller array covers that many more
pixels, and clamped at 0. Arrays larger than the map get a negative shift: their sigma rises, and may then
exceed ``num_levels`` (an error). The per-array distortions are summed, unweighted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...checks import check_finite, check_float_tensor, check_positive_int
from .distortion import rescaled_distortion
from .validation import (
    check_feature_pair,
    check_options,
    check_sigma_tensor,
    check_sigma_values,
    compute_dtype,
)


def _resize_matrix(size_in: int, size_out: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(size_out, size_in) weights of ``jax.image.resize(method="linear", antialias=True)`` along one axis.

    Half-pixel centres; a triangle kernel widened by the scale factor when downsampling; rows sum to 1.
    """
    inv_scale = 1.0 / (size_out / size_in)
    kernel_scale = max(inv_scale, 1.0)
    centres = (torch.arange(size_out, dtype=dtype, device=device) + 0.5) * inv_scale - 0.5
    inputs = torch.arange(size_in, dtype=dtype, device=device)
    weights = torch.relu(1 - (centres[:, None] - inputs[None, :]).abs() / kernel_scale)
    return weights / weights.sum(dim=1, keepdim=True)


def resize_log2_sigma(log2_sigma: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The sigma map a feature array of spatial ``size`` (h, w) gets in :func:`multi_wasserstein_distortion`.

    ``log2_sigma`` (H, W) or (B, H, W) is resized to (h, w) like ``jax.image.resize(..., "linear",
    antialias=True)``, then lowered by the log2 of the size ratio, ½·(log2(H/h) + log2(W/w)), since each
    feature element covers that many more pixels, and clamped at 0. Arrays larger than the map get a
    negative shift (sigma rises).
    """
    check_float_tensor(log2_sigma, "log2_sigma")
    if log2_sigma.dim() not in (2, 3) or 0 in log2_sigma.shape:
        raise ValueError(f"log2_sigma must have shape (H, W) or (B, H, W); got {tuple(log2_sigma.shape)}")
    check_finite(log2_sigma, "log2_sigma")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"size must be a pair (h, w) of positive ints; got {type(size).__name__}")
    if len(size) != 2:
        raise ValueError(f"size must be a pair (h, w) of positive ints; got {size!r}")
    for side in size:
        check_positive_int(side, "size")
    (height, width), (h, w) = log2_sigma.shape[-2:], size
    resized = log2_sigma
    if (h, w) != (height, width):  # at equal size the weights are the identity matrix exactly
        rows = _resize_matrix(height, h, dtype=log2_sigma.dtype, device=log2_sigma.device)
        cols = _resize_matrix(width, w, dtype=log2_sigma.dtype, device=log2_sigma.device)
        resized = rows @ log2_sigma @ cols.T
    shift = (math.log2(height / h) + math.log2(width / w)) / 2
    return torch.relu(resized - shift)


@dataclass
class MultiWassersteinIntermediates:
    """Per feature array j: ``wd_maps[j]`` and ``weights[j]`` as in
    :class:`~.distortion.WassersteinIntermediates`, ``distortions[j]`` its distortion (they sum to the
    total) and ``log2_sigmas[j]`` the resized, shifted sigma map it was given (:func:`resize_log2_sigma`)."""

    wd_maps: list[list[torch.Tensor]]
    weights: list[list[torch.Tensor]]
    distortions: list[torch.Tensor]
    log2_sigmas: list[torch.Tensor]


def multi_wasserstein_distortion(
    features_a: Sequence[torch.Tensor],
    features_b: Sequence[torch.Tensor],
    log2_sigma: torch.Tensor,
    *,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, MultiWassersteinIntermediates]:
    """Sum of Wasserstein Distortions over pairs of feature arrays of different resolutions.

    ``features_a[j]`` and ``features_b[j]`` are (C_j, h_j, w_j) — or all batched (B, C_j, h_j, w_j) — and
    should share the aspect ratio of ``log2_sigma`` (H, W) (or (B, H, W) for batched features), which is
    given to array j through :func:`resize_log2_sigma`. The per-array distortions are summed unweighted:
    0-d, or (B,) for batched features. Empty lists give 0. ``return_intermediates=True`` returns
    ``(distortion, MultiWassersteinIntermediates)``. ``log2_sigma`` must be finite and >= 0, and each
    resized map at most ``num_levels``; features of any magnitude are handled as in
    :func:`~.distortion.wasserstein_distortion` (rescaled exactly; a distortion beyond the dtype's range is
    a ``ValueError``).
    """
    check_options(num_levels, sqrt_grad_limit, return_intermediates)
    for name, value in (("features_a", features_a), ("features_b", features_b)):
        if isinstance(value, torch.Tensor) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of feature tensors; got {type(value).__name__}")
    if len(features_a) != len(features_b):
        raise ValueError(
            "features_a and features_b must have the same length; "
            f"got {len(features_a)} and {len(features_b)}"
        )
    check_float_tensor(log2_sigma, "log2_sigma")
    if not features_a:
        return torch.zeros((), dtype=compute_dtype(log2_sigma.dtype), device=log2_sigma.device)
    for j, (a, b) in enumerate(zip(features_a, features_b, strict=True)):
        check_feature_pair(a, b, f"features_a[{j}]", f"features_b[{j}]")
    first = features_a[0]
    for j, a in enumerate(features_a):
        if a.dim() != first.dim() or (a.dim() == 4 and a.shape[0] != first.shape[0]):
            raise ValueError(
                f"feature arrays must all be (C, H, W) or all (B, C, H, W) with the same B; features_a[0] "
                f"has shape {tuple(first.shape)}, features_a[{j}] {tuple(a.shape)}"
            )
        if a.dtype != first.dtype or a.device != first.device:
            raise TypeError(
                f"feature arrays must share dtype and device; features_a[0] is {first.dtype} on "
                f"{first.device}, features_a[{j}] {a.dtype} on {a.device}"
            )
    batched = first.dim() == 4
    check_sigma_tensor(log2_sigma, first.device, batch=first.shape[0] if batched else None)
    dtype = compute_dtype(first.dtype)
    sigma = log2_sigma.to(dtype)
    resized = [resize_log2_sigma(sigma, tuple(a.shape[-2:])) for a in features_a]
    named_features = [(f"features_{s}[{j}]", f) for j in range(len(features_a)) for s, f in
                      (("a", features_a[j]), ("b", features_b[j]))]  # fmt: skip
    named_sigmas = [("log2_sigma", sigma, None)] + [
        (f"log2_sigma resized for features_a[{j}] (shape {tuple(s.shape)})", s, num_levels)
        for j, s in enumerate(resized)
    ]
    peaks = check_sigma_values(named_features, named_sigmas)

    total, parts, maps, weights = None, [], [], []
    for j, (a, b, s) in enumerate(zip(features_a, features_b, resized, strict=True)):
        a, b = a.to(dtype), b.to(dtype)
        if not batched:
            a, b = a.unsqueeze(0), b.unsqueeze(0)
        dist, inter = rescaled_distortion(
            a,
            b,
            s,
            (peaks[2 * j], peaks[2 * j + 1]),
            num_levels=num_levels,
            sqrt_grad_limit=float(sqrt_grad_limit),
            keep_intermediates=return_intermediates,
        )
        if not batched:
            dist = dist[0]
        total = dist if total is None else total + dist
        if inter is not None:
            parts.append(dist)
            maps.append(inter.wd_maps if batched else [m[0] for m in inter.wd_maps])
            weights.append(inter.weights)
    if return_intermediates:
        return total, MultiWassersteinIntermediates(maps, weights, parts, resized)
    return total
