"""Patch tokens: cut a (B, C, H, W) tensor into non-overlapping p×p patches and put them back exactly.

Conventions, fixed once for the whole library:

- **Token vectors are channel-major**: element ``c·p² + i·p + j`` of a token is channel c, row i, column j of
  its patch, the order of ``torch.nn.functional.unfold``.
- **Token order is batch-major**: token ``n = b·(h·w) + r·w + q`` is the patch in grid row r, column q of
  image b, where (h, w) = ``token_grid(shape, p)`` = (⌈H/p⌉, ⌈W/p⌉). Per-token quantities (codes, residual
  energies) of N = B·h·w tokens therefore reshape to (B, h, w).
- **Sizes that p does not divide** are padded at the bottom and right by replicating the edge, and
  :func:`from_tokens` crops the padding off, so ``from_tokens(to_tokens(x, p), p, x.shape)`` equals x exactly.

:func:`token_map` draws a per-token scalar back onto the pixel grid (nearest neighbour, any p) for heatmaps.
:class:`PatchCode` is the sparse code of a tensor cut this way (the dictionary bottleneck's codes, pixel
patches coded by :func:`laserlab.bottlenecks.pixels.sparse_code_images`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..checks import check_finite, check_positive_int
from ..sparse import SparseCode


def _check_tensor(x, name: str) -> None:
    """A torch tensor; a floating-point one must be finite."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.is_floating_point() and x.numel():
        check_finite(x.detach(), name)


def token_grid(shape: tuple[int, ...] | torch.Size, patch_size: int) -> tuple[int, int, int]:
    """(B, h, w): the number of images and the patch grid of a (B, C, H, W) tensor, h = ⌈H/p⌉, w = ⌈W/p⌉.

    ``shape`` must be four ints >= 1 (an empty tensor has no tokens to speak of)."""
    check_positive_int(patch_size, "patch_size")
    if not isinstance(shape, tuple | list | torch.Size):
        raise TypeError(f"shape must be a tuple (B, C, H, W) of ints >= 1; got {type(shape).__name__}")
    if not all(isinstance(size, int) and not isinstance(size, bool) for size in shape):
        raise TypeError(f"shape must be a tuple (B, C, H, W) of ints >= 1; got {tuple(shape)!r}")
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"shape must be (B, C, H, W) with B, C, H, W >= 1; got {tuple(shape)}")
    batch, _, height, width = shape
    return batch, -(-height // patch_size), -(-width // patch_size)


def to_tokens(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Tokens (B·h·w, C·p²) of a (B, C, H, W) tensor (B, C, H, W >= 1; finite if floating point), in the
    module's token order and vector layout."""
    _check_tensor(x, "x")
    if x.dim() != 4 or x.numel() == 0:
        raise ValueError(
            f"x must be a tensor of shape (B, C, H, W) with B, C, H, W >= 1; got {tuple(x.shape)}"
        )
    batch, channels, height, width = x.shape
    _, rows, cols = token_grid(x.shape, patch_size)
    p = patch_size
    pad_h, pad_w = rows * p - height, cols * p - width
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    tokens = x.reshape(batch, channels, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5)
    return tokens.reshape(batch * rows * cols, channels * p * p)


def from_tokens(tokens: torch.Tensor, patch_size: int, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """The (B, C, H, W) tensor of ``shape`` from its tokens (B·h·w, C·p²): the exact inverse of to_tokens."""
    batch, rows, cols = token_grid(shape, patch_size)
    _, channels, height, width = shape
    p = patch_size
    expected = (batch * rows * cols, channels * p * p)
    _check_tensor(tokens, "tokens")
    if tuple(tokens.shape) != expected:
        got = tuple(tokens.shape)
        raise ValueError(
            f"tokens must have shape (B·h·w, C·p²) = {expected} for shape {tuple(shape)} and patch_size {p}; "
            f"got {got}"
        )
    x = tokens.reshape(batch, rows, cols, channels, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(batch, channels, rows * p, cols * p)[:, :, :height, :width]


def token_map(values: torch.Tensor, patch_size: int, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Per-token scalars drawn onto the pixels of the tensor of ``shape`` (B, C, H, W): a (B, H, W) map.

    ``values`` is (B·h·w,) in token order or (B, h, w); each token's value fills its p×p patch (nearest
    neighbour upsampling by p, padding cropped). Any dtype: integer codeword indices stay integers.
    """
    batch, rows, cols = token_grid(shape, patch_size)
    height, width = shape[2], shape[3]
    _check_tensor(values, "values")
    if values.numel() != batch * rows * cols or values.dim() not in (1, 3):
        got = tuple(values.shape)
        raise ValueError(
            f"values must have shape (B·h·w,) or (B, h, w) = {(batch, rows, cols)} for shape {tuple(shape)} "
            f"and patch_size {patch_size}; got {got}"
        )
    if values.dim() == 3 and tuple(values.shape) != (batch, rows, cols):
        raise ValueError(
            f"values must have shape (B, h, w) = {(batch, rows, cols)}; got {tuple(values.shape)}"
        )
    grid = values.reshape(batch, rows, cols)
    pixels = grid.repeat_interleave(patch_size, dim=1).repeat_interleave(patch_size, dim=2)
    return pixels[:, :height, :width]


@dataclass
class PatchCode:
    """The sparse code of a (B, C, H, W) tensor cut into p×p patch tokens.

    - ``sparse`` — the :class:`~laserlab.sparse.SparseCode` of the N = B·h·w tokens, in this module's token
      order (a :class:`~laserlab.sparse.rate.QuantizedCode` when the coefficients were quantised).
    - ``shape`` — (B, C, H, W) of the coded tensor, before padding, so decoding crops exactly.
    - ``patch_size`` — p.
    """

    sparse: SparseCode
    shape: tuple[int, int, int, int]
    patch_size: int

    @property
    def grid(self) -> tuple[int, int, int]:
        """(B, h, w) = (B, ⌈H/p⌉, ⌈W/p⌉): per-token quantities (N,) reshape to it."""
        return token_grid(self.shape, self.patch_size)

    @property
    def n_active(self) -> torch.Tensor:
        """Atoms used per token, (B, h, w) long."""
        return self.sparse.n_active.view(self.grid)

    def reconstruct(self, dictionary: torch.Tensor) -> torch.Tensor:
        """The decoded tensor (B, C, H, W) over ``dictionary`` (K, C·p²), padding cropped (differentiable in
        ``dictionary``)."""
        return from_tokens(self.sparse.reconstruct(dictionary), self.patch_size, self.shape)
