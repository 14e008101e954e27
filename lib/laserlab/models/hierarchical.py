"""A two-level autoencoder (VQ-VAE-2 style, Razavi et al. 2019): a fine latent at 1/d of the image and a
coarse one at 1/(2d), each quantised by its own bottleneck; the decoder uses both.

Data flow: images → ``encoder`` → features (B, width, H/d, W/d) → ``coarse_encoder`` (one stride-2 stage)
→ coarse latent (B, coarse_dim, H/2d, W/2d) → coarse bottleneck → quantised coarse latent, upsampled ×2
(transposed conv) and concatenated with the features → 1×1 conv → fine latent (B, latent_dim, H/d, W/d)
→ fine bottleneck. The decoder sees the quantised fine latent concatenated with the ×2 upsampled
quantised coarse latent. Conditioning the fine latent on the quantised coarse one lets the fine level code
what the coarse level missed.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_positive_int
from .autoencoder import Autoencoder, AutoencoderOutput, check_levels, level_bits, make_bottleneck, to_signed
from .blocks import Decoder, Encoder, check_downsample


class HierarchicalAutoencoder(nn.Module):
    """Two-level autoencoder on images in [0, 1]; ``forward`` returns an :class:`AutoencoderOutput` with
    ``latents == [fine (B, latent_dim, H/d, W/d), coarse (B, coarse_dim, H/2d, W/2d)]``.

    ``bottleneck`` and ``coarse_bottleneck`` are bottlenecks or registry dicts (``dim`` defaults to
    ``latent_dim`` and ``coarse_dim``; ``coarse_bottleneck`` defaults to the same options as ``bottleneck``
    with ``coarse_dim``). Other options as :class:`~laserlab.models.autoencoder.Autoencoder`.
    """

    def __init__(
        self,
        bottleneck,
        *,
        coarse_bottleneck=None,
        latent_dim: int = 64,
        coarse_dim: int | None = None,
        width: int = 128,
        downsample: int = 4,
        num_residual_blocks: int = 2,
        residual_width: int = 32,
    ):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        coarse_dim = latent_dim if coarse_dim is None else coarse_dim
        check_positive_int(coarse_dim, "coarse_dim")
        check_downsample(downsample)
        if coarse_bottleneck is None:
            if not isinstance(bottleneck, dict):
                raise ValueError("coarse_bottleneck is required when bottleneck is a module, not a dict")
            coarse_bottleneck = {k: v for k, v in bottleneck.items() if k != "dim"}
        self.latent_dim, self.coarse_dim, self.downsample = latent_dim, coarse_dim, downsample
        shape = dict(num_residual_blocks=num_residual_blocks, residual_width=residual_width)
        self.encoder = Encoder(3, width, width=width, downsample=downsample, **shape)
        self.coarse_encoder = Encoder(width, coarse_dim, width=width, downsample=2, **shape)
        self.coarse_bottleneck = make_bottleneck(coarse_bottleneck, dim=coarse_dim, name="coarse_bottleneck")
        self.coarse_to_fine = nn.ConvTranspose2d(coarse_dim, width, 4, stride=2, padding=1)
        self.fine_projection = nn.Conv2d(2 * width, latent_dim, 1)
        self.bottleneck = make_bottleneck(bottleneck, dim=latent_dim)
        self.coarse_upsample = nn.ConvTranspose2d(coarse_dim, coarse_dim, 4, stride=2, padding=1)
        self.decoder = Decoder(latent_dim + coarse_dim, 3, width=width, upsample=downsample, **shape)

    @property
    def bottleneck_modules(self):
        return [self.bottleneck, self.coarse_bottleneck]

    @property
    def latent_channels(self) -> list[int]:
        """Channels of each latent in ``forward(...).latents``, fine → coarse."""
        return [self.latent_dim, self.coarse_dim]

    @property
    def size_multiple(self) -> int:
        patch = max(self.bottleneck.patch_size, 2 * self.coarse_bottleneck.patch_size)
        return self.downsample * patch

    check_input = Autoencoder.check_input

    def latent_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(channels, rows, columns) of the fine and the coarse latent for images of ``height``×``width``
        pixels (multiples of :attr:`size_multiple`)."""
        rows, cols = height // self.downsample, width // self.downsample
        return [(self.latent_dim, rows, cols), (self.coarse_dim, rows // 2, cols // 2)]

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> list:
        """The codes ``[fine, coarse]`` of ``images`` (B, 3, H, W) in [0, 1], as the evaluation-mode
        forward makes them: the fine latent is computed from the *decoded* coarse codes, as in forward."""
        self.check_input(images)
        features = self.encoder(to_signed(images))
        coarse = self.coarse_bottleneck.encode(self.coarse_encoder(features))
        coarse_quantized = self.coarse_bottleneck.decode(coarse)
        fine_latent = self.fine_projection(torch.cat([features, self.coarse_to_fine(coarse_quantized)], 1))
        return [self.bottleneck.encode(fine_latent), coarse]

    def decode(self, codes: list) -> torch.Tensor:
        """The reconstruction (B, 3, H, W) in (0, 1) of the codes ``[fine, coarse]`` from :meth:`encode`."""
        check_levels(codes, 2)
        fine, coarse = self.bottleneck.decode(codes[0]), self.coarse_bottleneck.decode(codes[1])
        both = torch.cat([fine, self.coarse_upsample(coarse)], 1)
        return torch.sigmoid(self.decoder(both))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Reconstruct ``images`` (B, 3, H, W) in [0, 1]; see :class:`AutoencoderOutput`."""
        self.check_input(images)
        features = self.encoder(to_signed(images))
        coarse_latent = self.coarse_encoder(features)
        coarse = self.coarse_bottleneck(coarse_latent)
        fine_latent = self.fine_projection(torch.cat([features, self.coarse_to_fine(coarse.quantized)], 1))
        fine = self.bottleneck(fine_latent)
        both = torch.cat([fine.quantized, self.coarse_upsample(coarse.quantized)], 1)
        reconstruction = torch.sigmoid(self.decoder(both))
        bits = level_bits(fine_latent.shape, self.bottleneck) + level_bits(
            coarse_latent.shape, self.coarse_bottleneck
        )
        return AutoencoderOutput(
            reconstruction=reconstruction,
            latents=[fine_latent, coarse_latent],
            quantized=[fine.quantized, coarse.quantized],
            bottlenecks=[fine, coarse],
            bits_per_pixel=bits / (images.shape[-2] * images.shape[-1]),
        )
