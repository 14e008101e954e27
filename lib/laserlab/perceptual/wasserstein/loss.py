"""Wasserstein Distortion as a training loss: a module holding its sigma map and feature front end."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...checks import check_choice, check_float_tensor, check_images, check_positive_int, check_same_shape
from ..backbones import backbone
from .multiresolution import multi_wasserstein_distortion
from .validation import check_options, check_sigma_values
from .vgg16 import vgg16_features

FRONT_ENDS = ("pixels", "vgg16")


class WassersteinDistortion(nn.Module):
    """Wasserstein Distortion as a loss: ``forward(reconstruction, target) -> (B,)`` for images in [0, 1].

    Holds its log2-sigma map (H′, W′) as a buffer (it follows ``.to(device)``; see
    :mod:`laserlab.perceptual.sigma` for constructors) and its front end:

    - ``"pixels"`` — the images themselves are the features (distortion in [0, 1] intensity units²);
    - ``"vgg16"`` — :func:`vgg16_features` with ``num_scales`` scales and frozen ``weights``
      ("imagenet", a path, or ``None`` for random weights, recorded as a substitution).

    The sigma map is resized to each feature array as in :func:`multi_wasserstein_distortion`, so log2 σ
    is in pixels of the map's own grid; a map of the image size means pixels of the image.
    """

    def __init__(
        self,
        log2_sigma: torch.Tensor,
        *,
        features: str = "pixels",
        num_levels: int = 5,
        sqrt_grad_limit: float = 1e6,
        num_scales: int = 3,
        weights: str | Path | None = "imagenet",
    ) -> None:
        super().__init__()
        check_choice(features, "features", FRONT_ENDS)
        check_options(num_levels, sqrt_grad_limit, False)
        check_positive_int(num_scales, "num_scales")
        check_float_tensor(log2_sigma, "log2_sigma")
        if log2_sigma.dim() != 2 or 0 in log2_sigma.shape:
            raise ValueError(f"log2_sigma must have shape (H, W); got {tuple(log2_sigma.shape)}")
        check_sigma_values([], [("log2_sigma", log2_sigma, num_levels)])
        self.register_buffer("log2_sigma", log2_sigma.detach().clone())
        self.front_end = features
        self.num_levels = num_levels
        self.sqrt_grad_limit = float(sqrt_grad_limit)
        self.num_scales = num_scales
        self.network = None
        if features == "vgg16":
            self.network = backbone("vgg16", weights=weights, pooling="avg").requires_grad_(False)

    def extra_repr(self) -> str:
        return (
            f"features={self.front_end!r}, log2_sigma={tuple(self.log2_sigma.shape)}, "
            f"num_levels={self.num_levels}, sqrt_grad_limit={self.sqrt_grad_limit:g}"
            + (f", num_scales={self.num_scales}" if self.network is not None else "")
        )

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_images(reconstruction.detach(), "reconstruction")
        check_images(target.detach(), "target")
        check_same_shape(reconstruction, target, "reconstruction", "target")
        if self.network is None:
            features_a, features_b = [reconstruction], [target]
        else:
            features = vgg16_features(
                torch.cat([reconstruction, target]), self.network, num_scales=self.num_scales
            )
            count = reconstruction.shape[0]
            features_a, features_b = [f[:count] for f in features], [f[count:] for f in features]
        return multi_wasserstein_distortion(
            features_a,
            features_b,
            self.log2_sigma.to(reconstruction.dtype),
            num_levels=self.num_levels,
            sqrt_grad_limit=self.sqrt_grad_limit,
        )
