"""Wasserstein Distortion (Qiu, Wagner, Ballé, Theis 2024; Ballé et al., CVPR 2025), ported exactly.

The reference is the JAX implementation in CoDeX, ``codex/loss/wasserstein.py`` of balle-lab/codex@2810ca2
(numerically identical to google/codex@4dcfd9a); where the papers and that code differ, this port follows
the code. A log2-sigma map says, per pixel, how much of the features is summarised before comparing:
log2 σ = 0 compares pointwise (squared error), log2 σ = k compares local means and standard deviations
pooled over a dyadic neighbourhood of level k − 1, in between the distortion maps are interpolated
linearly in log2 σ.

- :func:`lowpass` — the 3×3 binomial blur with XLA 'SAME' zero padding (asymmetric for stride 2 and even
  sizes), run as a depthwise convolution; :func:`multiscale_stats` — per-channel local means and (raw)
  variances on a dyadic pyramid (:mod:`.pyramid`).
- :func:`wasserstein_distortion` — one feature array per image, (C, H, W) → 0-d as the reference, or a
  batch (B, C, H, W) → (B,), every sample reduced exactly as the reference reduces one (:mod:`.distortion`).
- :func:`multi_wasserstein_distortion` — several arrays per image at different resolutions; the sigma map
  is resized (antialiased linear, as ``jax.image.resize``) and shifted to each array's resolution
  (:mod:`.multiresolution`).
- :func:`vgg16_wasserstein_distortion` — the VGG-16 front end of CoDeX (ImageNet-normalised image plus
  relu1_2 … relu5_3 at ``num_scales`` scales, average pooling); :func:`precompute_vgg16_features`
  computes an image's features once for repeated calls (:mod:`.vgg16`).
- :class:`WassersteinDistortion` — the training loss, ``forward(reconstruction, target) -> (B,)`` for
  images in [0, 1], holding its sigma map and front end ("pixels" or "vgg16") (:mod:`.loss`).

Inputs are float32 or float64 tensors (computed in their own dtype; float16/bfloat16 are computed in
float32), on any device. Gradients follow the reference's custom rules (:mod:`.gradients`):
:func:`lower_limit` on the variances and :func:`safe_sqrt` with a capped derivative. Argument checks
shared by these functions live in :mod:`.validation`.
"""

from .distortion import WassersteinIntermediates, wasserstein_distortion
from .gradients import lower_limit, safe_sqrt
from .loss import FRONT_ENDS, WassersteinDistortion
from .multiresolution import MultiWassersteinIntermediates, multi_wasserstein_distortion, resize_log2_sigma
from .pyramid import MultiscaleStats, lowpass, multiscale_stats
from .vgg16 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16Features,
    precompute_vgg16_features,
    vgg16_features,
    vgg16_wasserstein_distortion,
)

__all__ = [
    "FRONT_ENDS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MultiWassersteinIntermediates",
    "MultiscaleStats",
    "VGG16Features",
    "WassersteinDistortion",
    "WassersteinIntermediates",
    "lower_limit",
    "lowpass",
    "multi_wasserstein_distortion",
    "multiscale_stats",
    "precompute_vgg16_features",
    "resize_log2_sigma",
    "safe_sqrt",
    "vgg16_features",
    "vgg16_wasserstein_distortion",
    "wasserstein_distortion",
]
