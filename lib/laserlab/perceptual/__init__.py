"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion."""

from .quality import mse, psnr, ssim

__all__ = ["mse", "psnr", "ssim"]
