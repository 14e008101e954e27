"""Texture resampling: shuffle the pixels or patches inside a region, keeping its local statistics.

The fidelity–realism probe of Wasserstein Distortion: a shuffled region is a different image of the same
texture, so it should be far from the original pointwise (log2 σ = 0) and close once σ over the region is
large enough for its statistics to be compared instead of its pixels. Its control,
:func:`fill_region_with_mean`, keeps the region's mean colour but removes its texture, so it stays far at
every σ.
"""

from __future__ import annotations

import torch

from ..checks import check_float_tensor, check_positive_int


def _check_region(images, box) -> tuple[int, int, int, int]:
    """Images (B, C, H, W) and a box (top, left, bottom, right) inside them; returns the box."""
    check_float_tensor(images, "images")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W); got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    expected = (
        f"box must be (top, left, bottom, right) ints inside the {height}×{width} image, "
        f"top < bottom and left < right; got {box!r}"
    )
    if not isinstance(box, (tuple, list)) or any(isinstance(v, bool) or not isinstance(v, int) for v in box):
        raise TypeError(expected)
    if len(box) != 4 or not (0 <= box[0] < box[2] <= height and 0 <= box[1] < box[3] <= width):
        raise ValueError(expected)
    return tuple(box)


def shuffle_region(
    images: torch.Tensor, box: tuple[int, int, int, int], *, patch_size: int = 1, seed: int = 0
) -> torch.Tensor:
    """Copy of ``images`` (B, C, H, W) with the ``patch_size`` × ``patch_size`` patches of ``box`` (top,
    left, bottom, right; bottom and right exclusive) randomly permuted, independently per image and
    reproducibly for a ``seed``. ``patch_size=1`` shuffles pixels (all channels of a pixel move together).
    The box must lie inside the image and its sides must be multiples of ``patch_size``."""
    top, left, bottom, right = _check_region(images, box)
    check_positive_int(patch_size, "patch_size")
    rows, cols = (bottom - top) // patch_size, (right - left) // patch_size
    if rows * patch_size != bottom - top or cols * patch_size != right - left:
        raise ValueError(
            f"box sides ({bottom - top}×{right - left}) must be multiples of patch_size={patch_size}"
        )
    batch, channels = images.shape[:2]
    region = images[..., top:bottom, left:right]
    # (B, C, rows, p, cols, p) → (B, rows·cols, C, p, p): one entry per patch
    patches = region.reshape(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(batch, rows * cols, channels, patch_size, patch_size)
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(rows * cols, generator=generator) for _ in range(batch)])
    shuffled = patches[torch.arange(batch)[:, None], order.to(images.device)]
    shuffled = shuffled.reshape(batch, rows, cols, channels, patch_size, patch_size).permute(0, 3, 1, 4, 2, 5)
    out = images.clone()
    out[..., top:bottom, left:right] = shuffled.reshape(batch, channels, bottom - top, right - left)
    return out


def fill_region_with_mean(images: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Copy of ``images`` (B, C, H, W) with ``box`` (top, left, bottom, right; bottom and right exclusive,
    inside the image) filled with its own mean, per image and channel: the region keeps its mean colour
    and loses its texture — the control for :func:`shuffle_region`."""
    top, left, bottom, right = _check_region(images, box)
    out = images.clone()
    out[..., top:bottom, left:right] = images[..., top:bottom, left:right].mean((-2, -1), keepdim=True)
    return out
