"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion."""

from .lpips import LPIPS, LPIPSOutput
from .quality import mse, psnr, ssim

__all__ = ["LPIPS", "LPIPSOutput", "mse", "psnr", "ssim"]
