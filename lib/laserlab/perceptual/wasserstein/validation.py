"""Argument checks shared by the Wasserstein Distortion functions, the loss module and the sigma explorer.

Wrong types raise ``TypeError``, wrong shapes, devices, values or ranges ``ValueError``, each naming the
argument and the expected form.
"""

from __future__ import annotations

import torch

from ...checks import check_bool, check_float_tensor, check_images, check_nonnegative_int, check_same_shape


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


def check_sigma_values(
    finite: list[tuple[str, torch.Tensor]], bounded: list[tuple[str, torch.Tensor]], num_levels: int
) -> None:
    """All tensors finite and max <= num_levels for the sigma maps in ``bounded``, with one device sync."""
    tensors = finite + bounded
    with torch.no_grad():
        # min and max propagate NaN and Inf: one reduction pass instead of an elementwise isfinite
        flags = [torch.isfinite(torch.stack(torch.aminmax(x))).all().double() for _, x in tensors]
        maxima = [s.max().double() for _, s in bounded]
        values = torch.stack(flags + maxima).tolist()
    for (name, _), is_finite in zip(tensors, values[: len(tensors)], strict=True):
        if not is_finite:
            raise ValueError(f"{name} must be finite; it contains NaN or Inf")
    for (name, _), maximum in zip(bounded, values[len(tensors) :], strict=True):
        if maximum > num_levels:
            raise ValueError(
                f"{name} must have max(log2_sigma) <= num_levels = {num_levels}; got max {maximum:.6g}"
            )


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
