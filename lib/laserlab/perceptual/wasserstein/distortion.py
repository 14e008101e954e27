"""Wasserstein Distortion between two feature arrays of the same resolution under a log2-sigma map.

With the statistics pyramid of :mod:`.pyramid` (levels k = 0 … L − 1), the distortion maps are: level 0
the pointwise squared error (a − b)²; level k + 1 the squared W2 distance between the per-channel 1-D
Gaussians of statistics level k, (m_a − m_b)² + (s_a − s_b)² with s = safe_sqrt(lower_limit(v, 0)) (no
cross-channel terms). The weights are hat functions of log2 σ, w_i = relu(1 − |s − i|) for i = 0 … L,
where s is the sigma map, blurred and halved (``lowpass(·, 2)``) after every level i >= 1, so levels 0
and 1 share the full-resolution map. The distortion is Σ_i mean over (C, H_i′, W_i′) of w_i · map_i: each
level a mean over channels and its own grid, the levels summed. So log2 σ = 0 is the mean squared error,
1 compares 3×3 local statistics at full resolution, k the statistics of level k − 1, and in between the
maps are interpolated linearly in log2 σ. Zero padding lowers sigma at the bottom/right borders of the
coarse maps, so the weights need not sum to 1 there.

Scale: the distortion is quadratic in the features, WD(s·a, s·b) = s²·WD(a, b). A sample whose features
lie outside :func:`laserlab.scaling.safe_range` (2^±32 in float32, where squares and variances overflow
or underflow) is computed on features brought to magnitude ~1 by an exact power of two, and the result
(and its gradient) rescaled; ``sqrt_grad_limit`` then caps the derivative in those rescaled units. A
distortion beyond the dtype's range (features of 1e20 in float32: about 1e40) is a ``ValueError``; one
below it rounds to a subnormal or 0, as any float computation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...scaling import ldexp
from .gradients import level_map
from .pyramid import lowpass, moment_pyramid, to_conv_layout
from .validation import (
    FeaturePeaks,
    check_feature_pair,
    check_options,
    check_sigma_tensor,
    check_sigma_values,
    compute_dtype,
    pair_shifts,
)


@dataclass
class WassersteinIntermediates:
    """What the distortion was summed from (the reference's ``wd_maps`` and ``weights``).

    ``wd_maps[i]``, i = 0 … L: (…, C, H_i′, W_i′) — level 0 the pointwise squared error, level k + 1 the
    squared W2 distance between the per-channel Gaussians of statistics level k (H_0′ = H_1′ = H,
    H_i′ = ceil(H / 2^(i−1))). ``weights[i]``: (…, H_i′, W_i′), the hat function of log2 σ around level i
    (log2 σ blurred and downsampled i − 1 times for i ≥ 2). The leading dimension is the batch where the
    input had one (weights: where log2_sigma had one).
    """

    wd_maps: list[torch.Tensor]
    weights: list[torch.Tensor]

    def level_terms(self) -> list[torch.Tensor]:
        """Each level's contribution to the distortion, mean(weight · map); they sum to the distortion."""
        return [
            (w.unsqueeze(-3) * m).mean(dim=(-3, -2, -1))
            for w, m in zip(self.weights, self.wd_maps, strict=True)
        ]


_CHUNK_BYTES = 4 << 20


def _channel_chunk(features: torch.Tensor) -> int:
    """Channels per chunk: on CPU, so that a full-resolution chunk stays around 4 MiB, cache-sized and
    small enough for the allocator to recycle its temporaries instead of mapping fresh pages for every
    one (page faults cost more than the arithmetic); all channels at once on accelerators."""
    if features.device.type != "cpu":
        return features.shape[1]
    plane = features.shape[0] * features.shape[2] * features.shape[3] * features.element_size()
    return max(1, _CHUNK_BYTES // plane)


def _sigma_weights(log2_sigma: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Hat-function weights of levels 0 … L: w_i = relu(1 − |s − i|) with s blurred and halved
    (``lowpass(·, 2)``) after every level i >= 1, so levels 0 and 1 share the full-resolution s."""
    weights, sigma = [], log2_sigma
    for level in range(num_levels + 1):
        weights.append(torch.relu(1 - (sigma - level).abs()))
        if 0 < level < num_levels:
            sigma = lowpass(sigma, 2)
    return weights


def unchecked_distortion(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    *,
    num_levels: int,
    sqrt_grad_limit: float,
    keep_intermediates: bool,
) -> tuple[torch.Tensor, WassersteinIntermediates | None]:
    """The algorithm on validated inputs: features (B, C, H, W), log2_sigma (H, W) or (B, H, W) → (B,),
    with the intermediates when ``keep_intermediates`` (else ``None``).

    Level i contributes mean(weight_i · map_i) = sum(weight_i · Σ_c map_i) / (C·h_i·w_i). Channels are
    independent, so they are processed in chunks (:func:`_channel_chunk`) and their channel sums added.
    """
    keep = keep_intermediates
    weights = _sigma_weights(log2_sigma, num_levels)
    channels = features_a.shape[1]
    track = torch.is_grad_enabled() and (features_a.requires_grad or features_b.requires_grad)
    sums: list[torch.Tensor | int] = [0] * (num_levels + 1)
    maps: list[list[torch.Tensor]] = [[] for _ in range(num_levels + 1)]
    step = channels if keep else _channel_chunk(features_a)
    # split (not slicing): its backward is one concatenation instead of a zero-filled copy per chunk
    for chunk_a, chunk_b in zip(features_a.split(step, dim=1), features_b.split(step, dim=1), strict=True):
        a, b = to_conv_layout(chunk_a), to_conv_layout(chunk_b)
        difference = a - b
        level_maps = [difference.square() if keep else torch.linalg.vecdot(difference, difference, dim=1)]
        for (mean_a, power_a), (mean_b, power_b) in zip(
            moment_pyramid(a, num_levels), moment_pyramid(b, num_levels), strict=True
        ):
            level_maps.append(
                level_map(
                    mean_a,
                    power_a,
                    mean_b,
                    power_b,
                    sqrt_grad_limit=sqrt_grad_limit,
                    channel_sum=not keep,
                    track=track,
                )
            )
        for level, one_map in enumerate(level_maps):
            if keep:
                maps[level].append(one_map.contiguous())
                one_map = one_map.sum(dim=1)
            sums[level] = sums[level] + (weights[level] * one_map).sum(dim=(-2, -1))
    dist = features_a.new_zeros(features_a.shape[0])
    for level, weight in enumerate(weights):
        dist = dist + sums[level] / (channels * weight.shape[-2] * weight.shape[-1])
    if not keep:
        return dist, None
    return dist, WassersteinIntermediates([torch.cat(m, dim=1) for m in maps], weights)


def rescaled_distortion(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    peaks: tuple[FeaturePeaks, FeaturePeaks],
    *,
    num_levels: int,
    sqrt_grad_limit: float,
    keep_intermediates: bool,
) -> tuple[torch.Tensor, WassersteinIntermediates | None]:
    """:func:`unchecked_distortion` of validated features (B, C, H, W) (float32 or float64) whose
    per-sample magnitudes are ``peaks``: samples outside the safe range are computed on features divided
    by a power of two and the distortion (and maps) multiplied by its square; a distortion that overflows
    the dtype is a ``ValueError``."""
    shifts = pair_shifts(*peaks, features_a.dtype)
    if shifts is None:
        return unchecked_distortion(
            features_a,
            features_b,
            log2_sigma,
            num_levels=num_levels,
            sqrt_grad_limit=sqrt_grad_limit,
            keep_intermediates=keep_intermediates,
        )
    down = -shifts[:, None, None, None]
    dist, intermediates = unchecked_distortion(
        ldexp(features_a, down),
        ldexp(features_b, down),
        log2_sigma,
        num_levels=num_levels,
        sqrt_grad_limit=sqrt_grad_limit,
        keep_intermediates=keep_intermediates,
    )
    dist = ldexp(dist, 2 * shifts)
    if intermediates is not None:
        intermediates.wd_maps = [ldexp(m, -2 * down) for m in intermediates.wd_maps]
    if not bool(torch.isfinite(dist).all()):
        largest = max(peak.largest for peak in peaks)
        raise ValueError(
            f"the Wasserstein distortion cannot be represented in {features_a.dtype}: features with "
            f"max |f| = {largest:.3g} give distortions beyond the dtype's range; scale the features down "
            "or use float64"
        )
    return dist, intermediates


def wasserstein_distortion(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    *,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, WassersteinIntermediates]:
    """Wasserstein Distortion between two feature arrays under a log2-sigma map.

    Shapes: ``features_a``, ``features_b`` (C, H, W) with ``log2_sigma`` (H, W) → 0-d, as the reference; or
    batched (B, C, H, W) with ``log2_sigma`` (H, W) (shared) or (B, H, W) → (B,), each sample reduced
    exactly as the reference reduces one. Features are in any units (the distortion is in their units
    squared); log2 σ is in pixels of the feature grid, 0 … ``num_levels``.

    Sum over levels i = 0 … L of mean over (C, H_i′, W_i′) of weight_i · wd_map_i (see
    :class:`WassersteinIntermediates`). ``sqrt_grad_limit`` caps the derivative of the square root of the
    variances (:func:`~laserlab.perceptual.wasserstein.safe_sqrt`). With ``return_intermediates=True``
    returns ``(distortion, WassersteinIntermediates)``.

    Raises ``TypeError`` for non-tensors or non-float dtypes and ``ValueError`` for mismatched shapes, a
    sigma map of the wrong shape, non-finite values, log2_sigma outside [0, num_levels] (one device sync),
    or a distortion beyond the dtype's range (see the module docstring on scale).
    """
    check_options(num_levels, sqrt_grad_limit, return_intermediates)
    check_feature_pair(features_a, features_b, "features_a", "features_b")
    batched = features_a.dim() == 4
    check_sigma_tensor(log2_sigma, features_a.device, batch=features_a.shape[0] if batched else None)
    if tuple(log2_sigma.shape[-2:]) != tuple(features_a.shape[-2:]):
        raise ValueError(
            f"log2_sigma must have the features' spatial shape (H, W) = {tuple(features_a.shape[-2:])}; "
            f"got {tuple(log2_sigma.shape)}"
        )
    peaks = check_sigma_values(
        [("features_a", features_a), ("features_b", features_b)], [("log2_sigma", log2_sigma, num_levels)]
    )
    dtype = compute_dtype(features_a.dtype)
    a, b, sigma = features_a.to(dtype), features_b.to(dtype), log2_sigma.to(dtype)
    if not batched:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    dist, intermediates = rescaled_distortion(
        a,
        b,
        sigma,
        (peaks[0], peaks[1]),
        num_levels=num_levels,
        sqrt_grad_limit=float(sqrt_grad_limit),
        keep_intermediates=return_intermediates,
    )
    if batched:
        return (dist, intermediates) if return_intermediates else dist
    if intermediates is not None:
        intermediates.wd_maps = [m[0] for m in intermediates.wd_maps]
    return (dist[0], intermediates) if return_intermediates else dist[0]
