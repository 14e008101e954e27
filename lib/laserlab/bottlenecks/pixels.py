"""Bottlenecks applied straight to image pixels: every p×p patch is one token (no encoder).

The simplest place to look at what a codebook or dictionary learned, and what sparsity buys: the explorers in
:mod:`laserlab.widgets` and notebook 06 code images this way.

- :func:`patch_latent` / :func:`from_patch_latent`: images (B, C, H, W) ↔ a latent (B, C·p², h, w) whose
  (C·p²,) vectors are the patch tokens of :mod:`~laserlab.bottlenecks.patches` (so a
  :class:`~laserlab.bottlenecks.vq.VectorQuantizer` of dim C·p² quantises patches).
- :func:`sparse_code_images`: OMP or matching pursuit of every patch over a dictionary, coefficients
  quantised to ``value_bits``, the decoded images and the rate in bits per pixel (:class:`CodedImages`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import sparse
from ..checks import check_float_tensor, check_positive_int
from ..sparse.rate import bits_per_pixel, check_value_bits, quantize_values, sparse_bits_per_token
from .patches import PatchCode, from_tokens, to_tokens, token_grid


def patch_latent(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, C·p², h, w): channel k at grid cell (r, q) is element k of that patch's token."""
    check_float_tensor(images, "images")
    tokens = to_tokens(images, patch_size)
    batch, rows, cols = token_grid(images.shape, patch_size)
    return tokens.reshape(batch, rows, cols, -1).permute(0, 3, 1, 2).contiguous()


def from_patch_latent(
    latent: torch.Tensor, patch_size: int, shape: tuple[int, ...] | torch.Size
) -> torch.Tensor:
    """The images of ``shape`` (B, C, H, W) from a patch latent (B, C·p², h, w): inverse of patch_latent."""
    check_float_tensor(latent, "latent")
    if latent.dim() != 4:
        raise ValueError(f"latent must have shape (B, C·p², h, w); got {tuple(latent.shape)}")
    tokens = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1])
    return from_tokens(tokens, patch_size, shape)


@dataclass
class CodedImages:
    """Images coded patch by patch with a sparse code (what :func:`sparse_code_images` returns).

    ``code``: the :class:`~laserlab.bottlenecks.patches.PatchCode` of the images, its ``sparse`` a
    :class:`~laserlab.sparse.rate.QuantizedCode`; ``reconstruction`` (B, C, H, W): the decoded images
    (dequantised coefficients), not clamped; ``bits_per_token``: fixed rate log2 C(K, S) + S·value_bits;
    ``bits_per_pixel``: that rate per image pixel.
    """

    code: PatchCode
    reconstruction: torch.Tensor
    bits_per_token: float
    bits_per_pixel: float


@torch.no_grad()
def sparse_code_images(
    images: torch.Tensor,
    dictionary: torch.Tensor,
    *,
    patch_size: int,
    sparsity: int,
    solver: str = "omp",
    value_bits: int = 8,
) -> CodedImages:
    """Code each p×p patch of ``images`` (B, C, H, W) over ``dictionary`` (K, C·p²) with ``solver`` (one of
    :data:`laserlab.sparse.SOLVERS`, :func:`laserlab.sparse.code`) at ``sparsity`` S atoms, quantise the
    coefficients to ``value_bits`` bits (:func:`~laserlab.sparse.rate.quantize_values`) and decode."""
    check_float_tensor(images, "images")
    check_float_tensor(dictionary, "dictionary")
    check_positive_int(patch_size, "patch_size")
    check_value_bits(value_bits)
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W); got {tuple(images.shape)}")
    width = images.shape[1] * patch_size**2
    if dictionary.dim() != 2 or dictionary.shape[1] != width:
        raise ValueError(
            f"dictionary must have shape (K, C·p²) = (K, {width}) for {images.shape[1]} channels and "
            f"patch_size {patch_size}; got {tuple(dictionary.shape)}"
        )
    tokens = to_tokens(images.to(dictionary.dtype), patch_size)
    quantized = quantize_values(sparse.code(tokens, dictionary, sparsity=sparsity, solver=solver), value_bits)
    code = PatchCode(quantized, tuple(images.shape), patch_size)
    _, rows, cols = code.grid
    rate = sparse_bits_per_token(dictionary.shape[0], sparsity, value_bits=value_bits)
    return CodedImages(
        code=code,
        reconstruction=code.reconstruct(dictionary),
        bits_per_token=rate,
        bits_per_pixel=float(bits_per_pixel(rate, (rows, cols), tuple(images.shape[-2:]))),
    )
