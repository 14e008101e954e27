"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion."""

from . import sigma
from .quality import mse, psnr, ssim
from .wasserstein import (
    WassersteinDistortion,
    multi_wasserstein_distortion,
    vgg16_wasserstein_distortion,
    wasserstein_distortion,
)

__all__ = [
    "WassersteinDistortion",
    "mse",
    "multi_wasserstein_distortion",
    "psnr",
    "sigma",
    "ssim",
    "vgg16_wasserstein_distortion",
    "wasserstein_distortion",
]
