"""Perceptual and fidelity measures: quality metrics (MSE/PSNR/SSIM), LPIPS, Wasserstein Distortion.

Also how any distance agrees with perceptual judgements (:mod:`.evaluation`: 2AFC score, JND mAP), LPIPS
training on 2AFC data (:mod:`.lpips_training`) and sigma maps for Wasserstein Distortion (:mod:`.sigma`).
"""

from . import sigma
from .evaluation import PIXEL_DISTANCES, evaluate_2afc, evaluate_jnd, jnd_average_precision, two_afc_scores
from .lpips import LPIPS, LPIPSOutput
from .lpips_training import RankingNetwork, train_lpips
from .quality import mse, psnr, ssim
from .wasserstein import (
    WassersteinDistortion,
    multi_wasserstein_distortion,
    vgg16_wasserstein_distortion,
    wasserstein_distortion,
)

__all__ = [
    "LPIPS",
    "PIXEL_DISTANCES",
    "LPIPSOutput",
    "RankingNetwork",
    "WassersteinDistortion",
    "evaluate_2afc",
    "evaluate_jnd",
    "jnd_average_precision",
    "mse",
    "multi_wasserstein_distortion",
    "psnr",
    "sigma",
    "ssim",
    "train_lpips",
    "two_afc_scores",
    "vgg16_wasserstein_distortion",
    "wasserstein_distortion",
]
