"""Pixel-fidelity metrics per image: MSE, PSNR and SSIM, computed by torchmetrics.

Inputs are image batches (B, C, H, W) with values in [0, data_range] (laserlab images: [0, 1], so the
default ``data_range=1.0``); clamp reconstructions first. Every function returns a (B,) tensor, one value
per image; take ``.mean()`` for a dataset figure (PSNR of the mean MSE differs: say which you report).
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from ..checks import check_images, check_same_shape


def _check(a: torch.Tensor, b: torch.Tensor, data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0; got {data_range!r}")
    check_images(a, "reconstruction", channels=None, value_range=(0.0, data_range))
    check_images(b, "target", channels=None, value_range=(0.0, data_range))
    check_same_shape(a, b, "reconstruction", "target")


def mse(reconstruction: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean squared error per image, in units of the data (default [0, 1]); shape (B,)."""
    _check(reconstruction, target, data_range)
    return (reconstruction - target).pow(2).flatten(1).mean(1)


def psnr(reconstruction: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, 10·log10(data_range² / MSE); shape (B,).

    Identical images give +inf.
    """
    _check(reconstruction, target, data_range)
    return peak_signal_noise_ratio(
        reconstruction, target, data_range=data_range, reduction="none", dim=(1, 2, 3)
    )


def ssim(reconstruction: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (11×11 Gaussian window, σ = 1.5, averaged over channels); (B,).

    Images must be at least 11 pixels on each side.
    """
    _check(reconstruction, target, data_range)
    if min(target.shape[-2:]) < 11:
        raise ValueError(
            f"images must be at least 11×11 for SSIM's 11×11 window; got {tuple(target.shape[-2:])}"
        )
    return structural_similarity_index_measure(
        reconstruction, target, data_range=data_range, reduction="none"
    )
