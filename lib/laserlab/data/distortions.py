"""Traditional image distortions at controlled strengths, for metric sweeps and synthetic 2AFC data.

Every function takes images (B, 3, H, W) in [0, 1] and returns a tensor of the same shape in [0, 1].
``DISTORTIONS`` maps a name to the function, the meaning of its strength and whether a larger strength is
a stronger distortion (JPEG quality and colour levels are the other way round).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..checks import check_images, check_number
from ..registry import Registry


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def gaussian_noise(images: torch.Tensor, sigma: float, *, seed: int = 0) -> torch.Tensor:
    """Add N(0, sigma²) noise (sigma in [0, 1] intensity units) per pixel and channel, then clip."""
    noise = torch.randn(
        images.shape, generator=_generator(seed, images.device), dtype=images.dtype, device=images.device
    )
    return (images + sigma * noise).clamp_(0.0, 1.0)


def impulse_noise(images: torch.Tensor, amount: float, *, seed: int = 0) -> torch.Tensor:
    """Salt-and-pepper: a fraction ``amount`` of pixels (all channels) set to black or white."""
    b, _, h, w = images.shape
    g = _generator(seed, images.device)
    hit = torch.rand((b, 1, h, w), generator=g, device=images.device) < amount
    salt = (torch.rand((b, 1, h, w), generator=g, device=images.device) < 0.5).to(images.dtype)
    return torch.where(hit, salt.expand_as(images), images)


def gaussian_blur(images: torch.Tensor, sigma: float, *, seed: int = 0) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel 2⌈3σ⌉ + 1, reflected borders)."""
    del seed
    if sigma <= 0:
        return images.clone()
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    return _separable(images, kernel, kernel)


def _separable(images: torch.Tensor, kernel_y: torch.Tensor, kernel_x: torch.Tensor) -> torch.Tensor:
    c = images.shape[1]
    ry, rx = kernel_y.numel() // 2, kernel_x.numel() // 2
    x = F.pad(images, (rx, rx, ry, ry), mode="replicate")
    x = F.conv2d(x, kernel_y.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    x = F.conv2d(x, kernel_x.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return x.clamp_(0.0, 1.0)  # the kernels sum to 1 only up to rounding: white can come out as 1 + 1e-7


def motion_blur(images: torch.Tensor, length: float, *, seed: int = 0) -> torch.Tensor:
    """Horizontal box blur over ``length`` pixels (linear camera motion); fractional ends weighted."""
    del seed
    if length <= 1:
        return images.clone()
    radius = math.ceil((length - 1) / 2)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = (length / 2 - t.abs() + 0.5).clamp(0, 1)
    kernel = kernel / kernel.sum()
    return _separable(images, torch.ones(1, dtype=images.dtype, device=images.device), kernel)


def jpeg(images: torch.Tensor, quality: float, *, seed: int = 0) -> torch.Tensor:
    """JPEG round trip at ``quality`` (1–100, lower is stronger; libjpeg through Pillow, 4:2:0)."""
    del seed
    import io

    import numpy as np
    from PIL import Image

    q = round(min(max(quality, 1), 100))
    as_uint8 = (images.detach().cpu() * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    decoded = []
    for array in as_uint8:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=q)
        decoded.append(np.asarray(Image.open(buffer).convert("RGB")))
    out = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)
    return out.to(device=images.device, dtype=images.dtype) / 255.0


def color_quantize(images: torch.Tensor, levels: float, *, seed: int = 0) -> torch.Tensor:
    """Quantise each channel to ``levels`` evenly spaced values (2–256, lower is stronger)."""
    del seed
    n = max(2, round(levels))
    return torch.round(images * (n - 1)) / (n - 1)


def shift(images: torch.Tensor, pixels: float, *, seed: int = 0) -> torch.Tensor:
    """Translate right and down by ``pixels`` (rounded), replicating the top and left borders."""
    del seed
    p = round(pixels)
    if p <= 0:
        return images.clone()
    h, w = images.shape[-2:]
    return F.pad(images, (p, 0, p, 0), mode="replicate")[..., :h, :w]


@dataclass(frozen=True)
class Distortion:
    function: Callable[..., torch.Tensor]
    strength: str  # what the strength number means
    increasing: bool  # True when a larger strength distorts more
    sweep: tuple[float, ...]  # a sensible range, mildest first


DISTORTIONS: Registry[Distortion] = Registry(
    "distortion",
    {
        "gaussian_noise": Distortion(
            gaussian_noise, "noise std (intensity)", True, (0.01, 0.02, 0.05, 0.1, 0.2)
        ),
        "impulse_noise": Distortion(impulse_noise, "fraction of pixels", True, (0.005, 0.01, 0.03, 0.1, 0.2)),
        "gaussian_blur": Distortion(gaussian_blur, "blur sigma (pixels)", True, (0.5, 1.0, 1.5, 2.0, 3.0)),
        "motion_blur": Distortion(motion_blur, "motion length (pixels)", True, (2, 3, 5, 7, 11)),
        "jpeg": Distortion(jpeg, "JPEG quality", False, (90, 70, 50, 30, 10)),
        "color_quantize": Distortion(color_quantize, "levels per channel", False, (64, 32, 16, 8, 4)),
        "shift": Distortion(shift, "shift (pixels)", True, (1, 2, 3, 4, 6)),
    },
)


def distort(images: torch.Tensor, name: str, strength: float, *, seed: int = 0) -> torch.Tensor:
    """Apply the distortion registered as ``name`` at ``strength`` (see ``DISTORTIONS``)."""
    distortion = DISTORTIONS[name]
    check_images(images)
    check_number(strength, "strength", minimum=0)
    return distortion.function(images, strength, seed=seed)
