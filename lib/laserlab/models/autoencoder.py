"""Autoencoders with a discrete bottleneck: ``Autoencoder`` (one latent) and the output both models share.

The model takes images in [0, 1] (B, 3, H, W), maps them to [-1, 1] for the encoder, quantises the latent
with any :class:`~laserlab.bottlenecks.Bottleneck` and decodes to a reconstruction in (0, 1) through a
sigmoid (clamping instead would give no gradient to pixels outside the range). H and W must be multiples
of the model's ``downsample`` factor (and, for dictionary bottlenecks, of ``downsample·patch_size`` for
whole patches).

Codes: :meth:`Autoencoder.encode` gives the discrete codes of images, one entry per level (fine →
coarse; each what that level's ``bottleneck.encode`` returns), and :meth:`Autoencoder.decode` the
reconstruction they define; in evaluation mode ``decode(encode(x))`` equals ``forward(x).reconstruction``
(the codecs in :mod:`laserlab.codecs.tokenizers` write these codes to files).

The rate is the bottleneck's: each latent of shape (B, dim, h, w) is cut into tokens of ``patch_size``²
positions (the bottleneck's ``patch_size``, 1 for VQ) and each token costs ``bits_per_token``,
so bits per pixel = Σ_levels bits_per_token · tokens / (H·W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..bottlenecks import Bottleneck, BottleneckOutput, build, token_grid
from ..checks import check_images, check_positive_int
from .blocks import Decoder, Encoder, check_downsample


@dataclass
class AutoencoderOutput:
    """What an autoencoder's ``forward`` returns.

    - ``reconstruction`` — (B, 3, H, W) in (0, 1).
    - ``latents`` — the encoder's latents before quantisation, fine → coarse: one (B, dim, H/d, W/d) for
      :class:`Autoencoder`; for :class:`~laserlab.models.hierarchical.HierarchicalAutoencoder` the fine
      latent and the coarse one at exactly half its height and width.
    - ``quantized`` — the bottlenecks' outputs ``quantized``, in the same order and shapes as ``latents``.
    - ``bottlenecks`` — each level's :class:`~laserlab.bottlenecks.BottleneckOutput` (loss, codes, stats).
    - ``bits_per_pixel`` — the rate of the codes, Σ bits_per_token · tokens / (H·W), a float.
    """

    reconstruction: torch.Tensor
    latents: list[torch.Tensor]
    quantized: list[torch.Tensor]
    bottlenecks: list[BottleneckOutput]
    bits_per_pixel: float

    @property
    def latent(self) -> torch.Tensor:
        """The finest latent (the only one of a one-level model)."""
        return self.latents[0]

    @property
    def bottleneck(self) -> BottleneckOutput:
        """The finest level's bottleneck output."""
        return self.bottlenecks[0]

    @property
    def bottleneck_loss(self) -> torch.Tensor:
        """Sum of the bottlenecks' own losses (commitment, codebook, dictionary terms)."""
        return sum(out.loss for out in self.bottlenecks[1:]) + self.bottlenecks[0].loss


def make_bottleneck(bottleneck, *, dim: int, name: str = "bottleneck") -> Bottleneck:
    """A :class:`Bottleneck` as given, or built from ``{"name": <registry key>, **options}`` with ``dim``
    defaulting to the latent's channels; its ``dim`` must equal ``dim``."""
    if isinstance(bottleneck, dict):
        options = dict(bottleneck)
        if "name" not in options:
            raise ValueError(
                f"{name} must name its type: {{'name': <bottleneck>, ...options}}; got {bottleneck}"
            )
        options.setdefault("dim", dim)
        bottleneck = build(options.pop("name"), **options)
    if not isinstance(bottleneck, Bottleneck):
        raise TypeError(
            f"{name} must be a laserlab Bottleneck or a dict for bottlenecks.build; got {bottleneck!r}"
        )
    if bottleneck.dim != dim:
        raise ValueError(f"{name}.dim must equal the latent channels {dim}; got {bottleneck.dim}")
    return bottleneck


def level_bits(latent_shape: torch.Size, bottleneck: Bottleneck) -> float:
    """Bits for one image's codes of a latent of ``latent_shape`` (B, dim, h, w) at ``bottleneck``'s rate."""
    _, rows, cols = token_grid(latent_shape, bottleneck.patch_size)
    return float(bottleneck.bits_per_token) * rows * cols


def check_levels(codes, levels: int) -> None:
    """``codes`` must be a list or tuple of one entry per level (``levels`` of them), fine → coarse."""
    if not isinstance(codes, list | tuple):
        raise TypeError(
            f"codes must be a list of {levels} level code(s), fine → coarse; got {type(codes).__name__}"
        )
    if len(codes) != levels:
        raise ValueError(f"codes must hold {levels} level code(s), fine → coarse; got {len(codes)}")


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] → [-1, 1], the range the encoders see."""
    return images * 2 - 1


class Autoencoder(nn.Module):
    """Encoder → bottleneck → decoder on images in [0, 1] (VQ-VAE, DL-VAE, K-SVD-VAE by bottleneck).

    ``bottleneck`` is a :class:`~laserlab.bottlenecks.Bottleneck` or a dict ``{"name": "vq" |
    "dictionary" | ..., **options}`` (``dim`` defaults to ``latent_dim``). ``width``, ``downsample`` (a
    power of two), ``num_residual_blocks`` and ``residual_width`` shape encoder and decoder
    (:mod:`laserlab.models.blocks`).
    """

    def __init__(
        self,
        bottleneck,
        *,
        latent_dim: int = 64,
        width: int = 128,
        downsample: int = 4,
        num_residual_blocks: int = 2,
        residual_width: int = 32,
    ):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        check_downsample(downsample)
        self.latent_dim, self.downsample = latent_dim, downsample
        shape = dict(width=width, num_residual_blocks=num_residual_blocks, residual_width=residual_width)
        self.encoder = Encoder(3, latent_dim, downsample=downsample, **shape)
        self.bottleneck = make_bottleneck(bottleneck, dim=latent_dim)
        self.decoder = Decoder(latent_dim, 3, upsample=downsample, **shape)

    @property
    def bottleneck_modules(self) -> list[Bottleneck]:
        """The bottlenecks, fine → coarse."""
        return [self.bottleneck]

    @property
    def latent_channels(self) -> list[int]:
        """Channels of each latent in ``forward(...).latents``, fine → coarse."""
        return [self.latent_dim]

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this."""
        return self.downsample * self.bottleneck.patch_size

    def check_input(self, images: torch.Tensor, name: str = "images") -> None:
        check_images(images.detach(), name)
        multiple = self.size_multiple
        if images.shape[-2] % multiple or images.shape[-1] % multiple:
            raise ValueError(
                f"{name} height and width must be multiples of {multiple} for this model; "
                f"got {tuple(images.shape[-2:])}"
            )

    def latent_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(channels, rows, columns) of each latent, fine → coarse, for images of ``height``×``width``
        pixels (multiples of :attr:`size_multiple`)."""
        return [(self.latent_dim, height // self.downsample, width // self.downsample)]

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> list:
        """The codes of ``images`` (B, 3, H, W) in [0, 1]: ``[bottleneck.encode(latent)]``, as the
        evaluation-mode forward makes them (no state changes)."""
        self.check_input(images)
        return [self.bottleneck.encode(self.encoder(to_signed(images)))]

    def decode(self, codes: list) -> torch.Tensor:
        """The reconstruction (B, 3, H, W) in (0, 1) of ``codes`` from :meth:`encode`."""
        check_levels(codes, 1)
        return torch.sigmoid(self.decoder(self.bottleneck.decode(codes[0])))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Reconstruct ``images`` (B, 3, H, W) in [0, 1]; see :class:`AutoencoderOutput`."""
        self.check_input(images)
        latent = self.encoder(to_signed(images))
        coded = self.bottleneck(latent)
        reconstruction = torch.sigmoid(self.decoder(coded.quantized))
        bits = level_bits(latent.shape, self.bottleneck)
        return AutoencoderOutput(
            reconstruction=reconstruction,
            latents=[latent],
            quantized=[coded.quantized],
            bottlenecks=[coded],
            bits_per_pixel=bits / (images.shape[-2] * images.shape[-1]),
        )
