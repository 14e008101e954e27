"""The VGG-16 front end of Wasserstein Distortion, as CoDeX computes it, and precomputed features for reuse.

Features of an sRGB image in [0, 1]: the image normalised with the ImageNet mean (0.485, 0.456, 0.406) and
standard deviation (0.229, 0.224, 0.225), then for each of ``num_scales`` scales the activations relu1_2,
relu2_2, relu3_3, relu4_3 and relu5_3 of VGG-16 with every 2×2 max pool replaced by a 2×2 average pool,
the normalised image being blurred and halved (``lowpass(·, 2)``) between scales: 1 + 5·num_scales arrays
(16 by default). The arrays are compared by :func:`~.multiresolution.multi_wasserstein_distortion`, so the
sigma map each gets is lowered by log2 of its size ratio to the image (relu5_3 at the first scale: 4).

Comparing one image with many others (or one pair under many sigma maps) need not recompute its
features: :func:`precompute_vgg16_features` returns a :class:`VGG16Features` that
:func:`vgg16_wasserstein_distortion` takes in place of the image, with bit-identical results.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ... import usage
from ...checks import check_images, check_positive_int
from ..backbones import Backbone, backbone
from .multiresolution import MultiWassersteinIntermediates, multi_wasserstein_distortion
from .pyramid import blur_planes
from .validation import check_image_pair, compute_dtype

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _scale_sizes(size: int, num_scales: int) -> list[int]:
    sizes = [size]
    for _ in range(num_scales - 1):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


def vgg16_features(images: torch.Tensor, network: Backbone, *, num_scales: int = 3) -> list[torch.Tensor]:
    """CoDeX's VGG-16 feature list for images (B, 3, H, W) in [0, 1]: 1 + 5·num_scales arrays.

    The ImageNet-normalised image itself (B, 3, H, W), then per scale relu1_2 (64 ch, full size), relu2_2
    (128, ⌊/2⌋), relu3_3 (256, ⌊/4⌋), relu4_3 (512, ⌊/8⌋), relu5_3 (512, ⌊/16⌋) of ``network`` (VGG-16
    with average pooling), the normalised image being blurred and halved (``lowpass(·, 2)``) between scales.
    """
    check_images(images.detach(), "images")
    check_positive_int(num_scales, "num_scales")
    if network.name != "vgg16":
        raise ValueError(f"network must be a vgg16 backbone; got {network.name!r}")
    smallest = min(
        _scale_sizes(images.shape[-2], num_scales)[-1], _scale_sizes(images.shape[-1], num_scales)[-1]
    )
    if smallest < network.min_size:
        raise ValueError(
            f"images must be large enough for VGG-16 at all {num_scales} scales (the smallest scale must be "
            f"at least {network.min_size} pixels on each side); got {tuple(images.shape[-2:])}, whose "
            f"smallest scale is {smallest} pixels"
        )
    weight = next(network.parameters())
    if weight.dtype != images.dtype or weight.device != images.device:
        raise TypeError(
            f"images are {images.dtype} on {images.device} but the VGG-16 weights are {weight.dtype} on "
            f"{weight.device}; move the network with .to(images)"
        )
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    image = (images - mean) / std
    features = [image]
    for scale in range(num_scales):
        features.extend(network(image))
        if scale + 1 < num_scales:
            image = blur_planes(image, 2)
    return features


_RANDOM_WEIGHTS_REASON = "features are not ImageNet features; metric values are not the published ones"


def _weights_key(weights: str | Path | None) -> str | None:
    """One name per weights choice: None (random), "imagenet", or the resolved path of a state dict."""
    return (
        None if weights is None else str(weights) if weights == "imagenet" else str(Path(weights).resolve())
    )


@functools.lru_cache(maxsize=4)
def _cached_vgg16(weights: str | None, device: torch.device, dtype: torch.dtype) -> Backbone:
    network = backbone("vgg16", weights=weights, pooling="avg").to(device=device, dtype=dtype)
    return network.requires_grad_(False)


def _record_use(network: Backbone, weights_key: str | None) -> None:
    # A notebook's provenance clears the usage record; a network built earlier still counts as used.
    if not any(r.name == "vgg16 backbone" and r.source == network.weights_source for r in usage.records()):
        usage.record(
            "weights",
            "vgg16 backbone",
            network.weights_source,
            substituted=weights_key is None,
            reason=_RANDOM_WEIGHTS_REASON if weights_key is None else "",
        )


def _vgg16_for(weights, device: torch.device, dtype: torch.dtype) -> Backbone:
    key = _weights_key(weights)
    network = _cached_vgg16(key, device, dtype)
    _record_use(network, key)
    return network


@dataclass(frozen=True, eq=False)
class VGG16Features:
    """The VGG-16 feature arrays of images, computed once by :func:`precompute_vgg16_features` and passed
    to :func:`vgg16_wasserstein_distortion` in place of the images, as often as needed.

    ``images`` are the images as given, (3, H, W) or (B, 3, H, W); ``arrays`` the 1 + 5·num_scales
    feature arrays (B, C_j, h_j, w_j) of :func:`vgg16_features`, in the computation dtype (float32 for
    half precision) and without gradient; ``weights`` names the VGG-16 weights (None: random, "imagenet",
    or a state-dict path) and ``network`` is the network that computed them.
    """

    images: torch.Tensor
    arrays: list[torch.Tensor]
    num_scales: int
    weights: str | None
    network: Backbone = field(repr=False)


def precompute_vgg16_features(
    images: torch.Tensor, *, num_scales: int = 3, weights: str | Path | None = "imagenet"
) -> VGG16Features:
    """VGG-16 features of ``images`` (3, H, W) or (B, 3, H, W) in [0, 1] for repeated
    :func:`vgg16_wasserstein_distortion` calls: the same network (built once per weights, device and
    dtype), the same features, so the distortion is bit-identical to passing the images themselves.

    Computed without gradient: nothing flows back to ``images`` through precomputed features.
    """
    check_image_pair(images, images)
    check_positive_int(num_scales, "num_scales")
    key = _weights_key(weights)
    dtype = compute_dtype(images.dtype)
    batch = (images if images.dim() == 4 else images.unsqueeze(0)).to(dtype)
    network = _vgg16_for(weights, batch.device, dtype)
    with torch.no_grad():
        arrays = vgg16_features(batch, network, num_scales=num_scales)
    return VGG16Features(images.detach(), arrays, num_scales, key, network)


def _feature_arrays(
    image, name: str, *, num_scales: int, weights: str | Path | None, dtype: torch.dtype
) -> list[torch.Tensor]:
    """The batched feature arrays of ``image`` (validated), precomputed or computed now."""
    if isinstance(image, VGG16Features):
        for option, given, used in (
            ("num_scales", num_scales, image.num_scales),
            ("weights", _weights_key(weights), image.weights),
        ):
            if given != used:
                raise ValueError(
                    f"{name} was precomputed with {option}={used!r}, "
                    f"but this call asks for {option}={given!r}"
                )
        if image.arrays[0].dtype != dtype:
            raise TypeError(
                f"{name} was precomputed in {image.arrays[0].dtype}, but this call computes in {dtype}"
            )
        _record_use(image.network, image.weights)
        return image.arrays
    batch = (image if image.dim() == 4 else image.unsqueeze(0)).to(dtype)
    return vgg16_features(batch, _vgg16_for(weights, batch.device, dtype), num_scales=num_scales)


def vgg16_wasserstein_distortion(
    image_a: torch.Tensor | VGG16Features,
    image_b: torch.Tensor | VGG16Features,
    log2_sigma: torch.Tensor,
    *,
    num_scales: int = 3,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    weights: str | Path | None = "imagenet",
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, MultiWassersteinIntermediates]:
    """VGG-16 Wasserstein Distortion between sRGB images in [0, 1], as CoDeX's front end computes it.

    ``image_a``, ``image_b``: (3, H, W) → 0-d, or (B, 3, H, W) → (B,); either may instead be its
    :class:`VGG16Features` (:func:`precompute_vgg16_features` with the same ``num_scales`` and
    ``weights``), which gives the same result without recomputing them. ``log2_sigma`` (H′, W′) of any
    size (usually the image size; (B, H′, W′) for a batch) is given to each of the 1 + 5·num_scales
    feature arrays (:func:`vgg16_features`) through :func:`~.multiresolution.resize_log2_sigma`, and the
    distortions summed. ``weights``: "imagenet" (torchvision's ImageNet VGG-16; see
    :mod:`laserlab.perceptual.backbones`), a state-dict path, or ``None`` for random weights — only when
    explicitly asked for (a substitution). The network is built once per (weights, device, dtype) and
    reused; the features of ``image_a`` and ``image_b`` are computed in separate passes.
    """
    images = [x.images if isinstance(x, VGG16Features) else x for x in (image_a, image_b)]
    batched = check_image_pair(*images)
    check_positive_int(num_scales, "num_scales")
    dtype = compute_dtype(images[0].dtype)
    features_a, features_b = (
        _feature_arrays(image, name, num_scales=num_scales, weights=weights, dtype=dtype)
        for image, name in ((image_a, "image_a"), (image_b, "image_b"))
    )
    if not batched:
        features_a, features_b = [f[0] for f in features_a], [f[0] for f in features_b]
    return multi_wasserstein_distortion(
        features_a,
        features_b,
        log2_sigma,
        num_levels=num_levels,
        sqrt_grad_limit=sqrt_grad_limit,
        return_intermediates=return_intermediates,
    )
