"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion.

Also how any distance agrees with perceptual judgements (:mod:`.evaluation`: 2AFC score, JND mAP) and
LPIPS training on 2AFC data (:mod:`.lpips_training`).
"""

from .evaluation import PIXEL_DISTANCES, evaluate_2afc, evaluate_jnd, jnd_average_precision, two_afc_scores
from .lpips import LPIPS, LPIPSOutput
from .lpips_training import RankingNetwork, train_lpips
from .quality import mse, psnr, ssim

__all__ = [
    "LPIPS",
    "PIXEL_DISTANCES",
    "LPIPSOutput",
    "RankingNetwork",
    "evaluate_2afc",
    "evaluate_jnd",
    "jnd_average_precision",
    "mse",
    "psnr",
    "ssim",
    "train_lpips",
    "two_afc_scores",
]
