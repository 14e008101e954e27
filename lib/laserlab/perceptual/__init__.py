"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion.

Also how any distance agrees with perceptual judgements (:mod:`.evaluation`: 2AFC score, JND mAP).
"""

from .evaluation import PIXEL_DISTANCES, evaluate_2afc, evaluate_jnd, jnd_average_precision, two_afc_scores
from .lpips import LPIPS, LPIPSOutput
from .quality import mse, psnr, ssim

__all__ = [
    "LPIPS",
    "PIXEL_DISTANCES",
    "LPIPSOutput",
    "evaluate_2afc",
    "evaluate_jnd",
    "jnd_average_precision",
    "mse",
    "psnr",
    "ssim",
    "two_afc_scores",
]
