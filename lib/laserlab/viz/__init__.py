"""Matplotlib figures. Every function returns a ``Figure`` and draws into ``ax`` when one is given."""

from .codes import (
    channel_slices,
    code_map,
    code_strength_map,
    coder_rate_distortion,
    pixel_map,
    usage_histogram,
)
from .embeddings import codebook_embedding, coherence_matrix, distance_histogram
from .images import image_grid
from .perceptual import distance_maps, learning_curve, score_table
from .recon import rate_distortion, rate_distortion_panels, reconstruction_grid, training_curves
from .sigma import sigma_maps, wasserstein_levels
from .spectral import convergence_curves, dct_masks, psnr_vs_tau, truncation_gallery

__all__ = [
    "channel_slices",
    "code_map",
    "code_strength_map",
    "codebook_embedding",
    "coder_rate_distortion",
    "coherence_matrix",
    "convergence_curves",
    "dct_masks",
    "distance_histogram",
    "distance_maps",
    "image_grid",
    "learning_curve",
    "pixel_map",
    "psnr_vs_tau",
    "rate_distortion",
    "rate_distortion_panels",
    "reconstruction_grid",
    "score_table",
    "sigma_maps",
    "training_curves",
    "truncation_gallery",
    "usage_histogram",
    "wasserstein_levels",
]
