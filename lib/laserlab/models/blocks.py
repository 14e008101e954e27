"""Convolutional encoder and decoder in the style of the VQ-VAE paper (van den Oord et al. 2017, §4.1).

Encoder: ``log2(downsample)`` strided 4×4 convolutions (stride 2), a 3×3 convolution, a stack of residual
blocks (ReLU, 3×3 conv to ``residual_width``, ReLU, 1×1 conv back, added to the input), a ReLU and a 1×1
projection to ``latent_dim`` channels. The decoder mirrors it with 4×4 transposed convolutions. A
``downsample`` of 1 keeps the resolution (3×3 convolutions only).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import check_nonnegative_int, check_positive_int


def check_downsample(downsample, name: str = "downsample") -> int:
    """``downsample`` must be a power of two >= 1; returns its log2 (the number of stride-2 stages)."""
    check_positive_int(downsample, name)
    if downsample & (downsample - 1):
        raise ValueError(f"{name} must be a power of two (1, 2, 4, 8, ...); got {downsample!r}")
    return int(math.log2(downsample))


class ResidualBlock(nn.Module):
    """x + conv1×1(relu(conv3×3(relu(x)))) on (B, channels, H, W)."""

    def __init__(self, channels: int, residual_width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, residual_width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(residual_width, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualStack(nn.Sequential):
    """``num_blocks`` residual blocks followed by a ReLU."""

    def __init__(self, channels: int, residual_width: int, num_blocks: int):
        super().__init__(*(ResidualBlock(channels, residual_width) for _ in range(num_blocks)), nn.ReLU())


class Encoder(nn.Module):
    """(B, in_channels, H, W) → (B, out_channels, H/downsample, W/downsample).

    H and W must be multiples of ``downsample`` (the autoencoder checks this once, with the image's name).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 128,
        downsample: int = 4,
        num_residual_blocks: int = 2,
        residual_width: int = 32,
    ):
        super().__init__()
        for value, name in ((in_channels, "in_channels"), (out_channels, "out_channels"), (width, "width")):
            check_positive_int(value, name)
        check_nonnegative_int(num_residual_blocks, "num_residual_blocks")
        check_positive_int(residual_width, "residual_width")
        stages = check_downsample(downsample)
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(stages):
            out = width // 2 if stage < stages - 1 else width
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.ReLU()]
            channels = out
        layers.append(nn.Conv2d(channels, width, 3, padding=1))
        layers.append(ResidualStack(width, residual_width, num_residual_blocks))
        layers.append(nn.Conv2d(width, out_channels, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """(B, in_channels, h, w) → (B, out_channels, h·upsample, w·upsample), unbounded values."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 128,
        upsample: int = 4,
        num_residual_blocks: int = 2,
        residual_width: int = 32,
    ):
        super().__init__()
        for value, name in ((in_channels, "in_channels"), (out_channels, "out_channels"), (width, "width")):
            check_positive_int(value, name)
        check_nonnegative_int(num_residual_blocks, "num_residual_blocks")
        check_positive_int(residual_width, "residual_width")
        stages = check_downsample(upsample, "upsample")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, padding=1),
            ResidualStack(width, residual_width, num_residual_blocks),
        ]
        channels = width
        for stage in range(stages):
            last = stage == stages - 1
            out = out_channels if last else width // 2
            layers.append(nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1))
            if not last:
                layers.append(nn.ReLU())
            channels = out
        if stages == 0:
            layers.append(nn.Conv2d(width, out_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
