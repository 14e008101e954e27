"""Phase 2 of spectral regularisation: a cross-scale penalty between the latents of a hierarchical codec.

The paper's loss (Eq. 6 as reported) subtracts ``δ · Σ_l ‖z_{l−1} − Conv1x1(DWT(z_l))‖²``: the codec is
rewarded when the coarser latent z_{l−1} is *not* linearly predictable from the Haar sub-bands of the finer
z_l. Taken literally, minimising that jointly over the 1×1 convolution and the codec is unbounded below
(scaling the convolution up grows the distance without limit). :class:`CrossScalePenalty` implements the
well-posed reading: the 1×1 convolution is a *predictor* trained to minimise the L2 distance (the best
linear prediction of z_{l−1} from DWT(z_l)), and the codec receives the negated gradient scaled by δ through
gradient reversal. The returned term is the predictor's L2 — bounded below by 0. (Other bounded readings —
a fixed or normalised 1×1 convolution, or a cosine similarity — are not implemented.)

The Haar DWT here is the orthonormal single-level 2-D transform on 2×2 blocks ``[a b; c d]``:
LL = (a+b+c+d)/2, then (a−b+c−d)/2, (a+b−c−d)/2, (a−b−c+d)/2; :func:`haar_idwt` inverts it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_number, check_positive_int, check_tensor


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """Single-level orthonormal 2-D Haar DWT: x (B, C, H, W), H and W even → (B, 4C, H/2, W/2).

    Channel ``4c + k`` holds sub-band k of input channel c: k = 0 LL (average), 1 horizontal detail
    (columns differ), 2 vertical detail (rows differ), 3 diagonal. Energy-preserving; differentiable.
    """
    check_tensor(x, "x", shape="(B, C, H, W)")
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        raise ValueError(f"x must have even height and width for a Haar DWT; got {height}×{width}")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    bands = torch.stack([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d], dim=2) * 0.5
    return bands.flatten(1, 2)


def haar_idwt(bands: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt`: (B, 4C, h, w) → (B, C, 2h, 2w), exact to rounding."""
    check_tensor(bands, "bands", shape="(B, 4C, h, w)")
    batch, channels, height, width = bands.shape
    if channels % 4:
        raise ValueError(f"bands must have 4C channels (four sub-bands per channel); got {channels}")
    ll, horizontal, vertical, diagonal = bands.view(batch, channels // 4, 4, height, width).unbind(2)
    out = bands.new_empty(batch, channels // 4, 2 * height, 2 * width)
    out[..., 0::2, 0::2] = (ll + horizontal + vertical + diagonal) * 0.5
    out[..., 0::2, 1::2] = (ll - horizontal + vertical - diagonal) * 0.5
    out[..., 1::2, 0::2] = (ll + horizontal - vertical - diagonal) * 0.5
    out[..., 1::2, 1::2] = (ll - horizontal - vertical + diagonal) * 0.5
    return out


class _ScaledGradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by −scale."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged; the gradient flowing back through it is multiplied by ``−scale``."""
    return _ScaledGradientReversal.apply(x, scale)


def rms_normalized(z: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``z`` (B, C, H, W) divided by each image's RMS, sqrt(mean(z²) + eps), differentiably: scaling a latent
    up changes nothing, so inflating the latents cannot game the cross-scale penalty."""
    return z / z.pow(2).mean(dim=(1, 2, 3), keepdim=True).add(eps).sqrt()


def check_latent_pyramid(latents: Sequence[torch.Tensor], *, channels: Sequence[int] | None = None) -> None:
    """``latents`` must be 4-D tensors, fine to coarse, each at exactly half the previous one's height and
    width with the same batch (no padding); with ``channels``, that many latents with those channel counts."""
    expected = 2 if channels is None else len(channels)
    if not isinstance(latents, list | tuple) or len(latents) < expected:
        got = len(latents) if isinstance(latents, list | tuple) else type(latents).__name__
        raise ValueError(f"latents must be a list of {expected} or more tensors (fine to coarse); got {got}")
    if channels is not None and len(latents) != len(channels):
        raise ValueError(
            f"latents must be a list of {len(channels)} tensors (fine to coarse); got {len(latents)}"
        )
    for level, z in enumerate(latents):
        check_tensor(z, f"latents[{level}]", shape="(B, C, H, W)")
        if channels is not None and z.shape[1] != channels[level]:
            raise ValueError(f"latents[{level}] must have {channels[level]} channels; got {tuple(z.shape)}")
    for level, (fine, coarse) in enumerate(pairwise(latents)):
        h, w = fine.shape[-2:]
        if h % 2 or w % 2 or coarse.shape[-2:] != (h // 2, w // 2) or coarse.shape[0] != fine.shape[0]:
            raise ValueError(
                f"latents[{level + 1}] must be latents[{level}] at half the height and width "
                f"(B, C, {h / 2:g}, {w / 2:g}) with the same batch; got {tuple(fine.shape)} and "
                f"{tuple(coarse.shape)} (no padding is applied)"
            )


class CrossScalePenalty(nn.Module):
    """Cross-scale penalty on latents ordered fine to coarse, ``channels[l]`` channels each.

    For every consecutive pair (z_fine (B, C_f, H, W), z_coarse (B, C_c, H/2, W/2)) a 1×1 convolution
    ``predictors[l]`` (4·C_f → C_c) maps ``haar_dwt(z_fine)`` to a prediction of z_coarse. ``forward``
    returns the sum over pairs of the mean squared prediction error (≥ 0). Its gradient trains the
    predictors to *minimise* it; the codec receives ``−delta`` times its gradient (gradient reversal), i.e.
    it is pushed to make the coarse latent unpredictable from the fine one. While ``active`` is False
    (phase 1's window) the codec receives nothing and only the predictors learn.

    ``normalize`` (default, a project choice): each latent is divided by its per-image RMS before the
    comparison, differentiably, so the codec cannot raise the penalty by inflating its latents. Heights and
    widths must halve exactly from one latent to the next (no padding).
    """

    def __init__(self, channels: Sequence[int], *, delta: float = 0.1, normalize: bool = True):
        super().__init__()
        if not isinstance(channels, list | tuple) or len(channels) < 2:
            raise ValueError(
                f"channels must list the channels of at least two latents (fine to coarse) for the "
                f"cross-scale penalty; got {channels!r}"
            )
        for count in channels:
            check_positive_int(count, "channels[i]")
        check_number(delta, "delta", minimum=0)
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be True or False; got {normalize!r}")
        self.channels, self.delta, self.normalize = tuple(channels), float(delta), bool(normalize)
        self.predictors = nn.ModuleList(nn.Conv2d(4 * fine, coarse, 1) for fine, coarse in pairwise(channels))
        self.active = True

    def check_latents(self, latents: Sequence[torch.Tensor]) -> None:
        check_latent_pyramid(latents, channels=self.channels)

    def forward(self, latents: Sequence[torch.Tensor]) -> torch.Tensor:
        """Scalar: Σ over pairs of mean((z_coarse − predictor(haar_dwt(z_fine)))²)."""
        self.check_latents(latents)
        scale = self.delta if self.active else 0.0
        total = latents[0].new_zeros(())
        for level, predictor in enumerate(self.predictors):
            fine, coarse = (reverse_gradient(z, scale) for z in latents[level : level + 2])
            if self.normalize:
                fine, coarse = rms_normalized(fine), rms_normalized(coarse)
            prediction = predictor(haar_dwt(fine))
            total = total + F.mse_loss(prediction, coarse)
        return total


@torch.no_grad()
def cross_scale_redundancy(latents: Sequence[torch.Tensor]) -> list[float]:
    """How linearly predictable each coarser latent is from the Haar sub-bands of the finer one.

    For each consecutive pair (fine (B, C_f, H, W), coarse (B, C_c, H/2, W/2)) the best affine map from the
    4·C_f sub-band values to the C_c coarse values at each position is fitted by least squares (float64,
    all B·H/2·W/2 positions) and its R² returned: 1 − residual energy / energy about the mean, in [0, 1].
    1 means the coarse latent is redundant given the fine one; the phase-2 penalty pushes it down. With few
    positions per fitted parameter R² is biased upwards (by about (4·C_f + 1) / positions).
    """
    check_latent_pyramid(latents)
    scores = []
    for fine, coarse in pairwise(latents):
        bands = haar_dwt(fine.double()).movedim(1, -1).flatten(0, 2)
        target = coarse.double().movedim(1, -1).flatten(0, 2)
        design = torch.cat([bands, torch.ones_like(bands[:, :1])], dim=1)
        if design.shape[0] <= design.shape[1]:
            raise ValueError(
                f"latents give {design.shape[0]} positions for {design.shape[1]} fitted parameters per "
                f"channel; use a larger batch"
            )
        solution = torch.linalg.lstsq(design, target).solution
        residual = (target - design @ solution).pow(2).sum()
        spread = (target - target.mean(0)).pow(2).sum()
        scores.append(float(1 - residual / spread) if spread > 0 else 1.0)
    return scores
