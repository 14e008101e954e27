"""Argument checks shared by the Wasserstein Distortion functions, the loss module and the sigma explorer.

Wrong types raise ``TypeError``, wrong shapes, devices, values or ranges ``ValueError``, each naming the
argument and the expected form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...checks import check_bool, check_float_tensor, check_images, check_nonnegative_int, check_same_shape
from ...scaling import in_safe_range, row_shifts


def check_sqrt_grad_limit(sqrt_grad_limit) -> None:
    """``sqrt_grad_limit`` must be a real number > 0; unlike most options, inf is allowed (no cap)."""
    if isinstance(sqrt_grad_limit, bool) or not isinstance(sqrt_grad_limit, (int, float)):
        raise TypeError(
            f"sqrt_grad_limit must be a number > 0 (inf allowed); got {sqrt_grad_limit!r} "
            f"({type(sqrt_grad_limit).__name__})"
        )
    if not sqrt_grad_limit > 0:  # also rejects NaN
        raise ValueError(f"sqrt_grad_limit must be a number > 0 (inf allowed); got {sqrt_grad_limit!r}")


def check_options(num_levels, sqrt_grad_limit, return_intermediates) -> None:
    """The keyword options every distortion function takes."""
    check_nonnegative_int(num_levels, "num_levels")
    check_sqrt_grad_limit(sqrt_grad_limit)
    check_bool(return_intermediates, "return_intermediates")


def check_feature_pair(a, b, name_a: str, name_b: str) -> None:
    """Types, dtypes, devices, ranks and shapes of two feature arrays (C, H, W) or (B, C, H, W)."""
    check_float_tensor(a, name_a)
    check_float_tensor(b, name_b)
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} and {name_b} must have the same dtype; got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device; got {a.device} and {b.device}")
    if a.dim() not in (3, 4):
        raise ValueError(f"{name_a} must have shape (C, H, W) or (B, C, H, W); got {tuple(a.shape)}")
    check_same_shape(a, b, name_a, name_b)
    if 0 in a.shape:
        raise ValueError(
            f"{name_a} must have at least one channel, one row and one column (and a non-empty batch); "
            f"got shape {tuple(a.shape)}"
        )


def check_sigma_tensor(log2_sigma, device: torch.device, *, batch: int | None) -> None:
    """``log2_sigma`` (H, W) — or, for features with a batch of ``batch``, (H, W) or (B, H, W) — on
    ``device``."""
    check_float_tensor(log2_sigma, "log2_sigma")
    if log2_sigma.device != device:
        raise ValueError(f"log2_sigma must be on the features' device {device}; got {log2_sigma.device}")
    if log2_sigma.dim() not in ((2,) if batch is None else (2, 3)) or 0 in log2_sigma.shape:
        expected = "(H, W)" if batch is None else f"(H, W) or (B, H, W) with B = {batch}"
        raise ValueError(f"log2_sigma must have shape {expected}; got {tuple(log2_sigma.shape)}")
    if batch is not None and log2_sigma.dim() == 3 and log2_sigma.shape[0] != batch:
        raise ValueError(
            f"log2_sigma must have shape (H, W) or (B, H, W) with the features' batch size B = {batch}; "
            f"got {tuple(log2_sigma.shape)}"
        )


@dataclass
class FeaturePeaks:
    """Magnitudes of a feature tensor from :func:`check_sigma_values`: ``peaks`` (B,) the max |f| of each
    sample ((1,) for an unbatched (C, H, W) tensor), ``smallest`` the smallest non-zero one (inf if none)
    and ``largest`` the largest, as Python floats."""

    peaks: torch.Tensor
    smallest: float
    largest: float


def check_sigma_values(
    features: list[tuple[str, torch.Tensor]],
    sigmas: list[tuple[str, torch.Tensor, int | None]],
) -> list[FeaturePeaks]:
    """Every feature tensor finite, every sigma map ``(name, map, maximum)`` finite with values in
    [0, maximum] (``maximum`` None: no upper bound), with one device sync; returns the features' per-sample
    magnitudes (:class:`FeaturePeaks`), which decide whether the distortion needs rescaling."""
    with torch.no_grad():
        peaks = []
        for _, x in features:
            samples = x if x.dim() == 4 else x.unsqueeze(0)
            # min and max propagate NaN and Inf, so they check finiteness too (no elementwise isfinite); over
            # all samples at once (aminmax with dim is far slower on CPU than amin and amax)
            flat = samples.flatten(1)
            peaks.append(torch.maximum(-flat.amin(1), flat.amax(1)))
        summary = []
        for sample_peaks in peaks:
            nonzero = torch.where(sample_peaks > 0, sample_peaks, torch.full_like(sample_peaks, torch.inf))
            summary += [sample_peaks.max().double(), nonzero.min().double()]
        for _, sigma, _ in sigmas:
            summary += [value.double() for value in torch.aminmax(sigma)]
        values = torch.stack(summary).tolist() if summary else []
    result = []
    for (name, _), sample_peaks, largest, smallest in zip(
        features, peaks, values[0 : 2 * len(features) : 2], values[1 : 2 * len(features) : 2], strict=True
    ):
        if not math.isfinite(largest):
            raise ValueError(f"{name} must be finite; it contains NaN or Inf")
        result.append(FeaturePeaks(sample_peaks, smallest, largest))
    bounds = values[2 * len(features) :]
    for (name, _, maximum), low, high in zip(sigmas, bounds[0::2], bounds[1::2], strict=True):
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{name} must be finite; it contains NaN or Inf")
        if low < 0 or (maximum is not None and high > maximum):
            expected = f"in [0, num_levels] with num_levels = {maximum}" if maximum is not None else ">= 0"
            raise ValueError(f"{name} must have values {expected}; got min {low:.6g}, max {high:.6g}")
    return result


def pair_shifts(peaks_a: FeaturePeaks, peaks_b: FeaturePeaks, dtype: torch.dtype) -> torch.Tensor | None:
    """Per-sample power-of-two exponents (B,) that bring a pair of feature tensors whose magnitude lies
    outside :func:`laserlab.scaling.safe_range` to [0.5, 1) (0 for the samples inside it); None when
    every sample is inside, so the distortion runs unscaled."""
    smallest, largest = min(peaks_a.smallest, peaks_b.smallest), max(peaks_a.largest, peaks_b.largest)
    if in_safe_range(smallest, largest, dtype):
        return None
    return row_shifts(torch.maximum(peaks_a.peaks, peaks_b.peaks), dtype)


def check_image_pair(image_a, image_b) -> bool:
    """Images (3, H, W) or (B, 3, H, W) in [0, 1] of equal shape; returns whether they are batched."""
    for name, image in (("image_a", image_a), ("image_b", image_b)):
        check_float_tensor(image, name)
        if image.dim() not in (3, 4):
            raise ValueError(f"{name} must have shape (3, H, W) or (B, 3, H, W); got {tuple(image.shape)}")
        check_images((image if image.dim() == 4 else image.unsqueeze(0)).detach(), name)
    check_same_shape(image_a, image_b, "image_a", "image_b")
    return image_a.dim() == 4


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 and float64 compute in their own dtype; half precisions are computed in float32."""
    return torch.promote_types(dtype, torch.float32)
