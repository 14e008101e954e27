"""Wasserstein Distortion (Qiu, Wagner, Ballé, Theis 2024; Ballé et al., CVPR 2025), ported exactly.

The reference is the JAX implementation in CoDeX (``codex/loss/wasserstein.py`` of balle-lab/codex@2810ca2);
``notes/wasserstein.md`` describes it. A log2-sigma map says, per pixel, how much of the features is
summarised before comparing: log2 σ = 0 compares pointwise (squared error), log2 σ = k compares local means
and standard deviations pooled over a dyadic neighbourhood of level k − 1, in between the distortion maps are
interpolated linearly in log2 σ.

- :func:`lowpass` — the 3×3 binomial blur with XLA 'SAME' zero padding (asymmetric for stride 2 and even
  sizes), run as a depthwise convolution.
- :func:`multiscale_stats` — per-channel local means and (raw) variances on a dyadic pyramid.
- :func:`wasserstein_distortion` — one feature array per image, (C, H, W) → 0-d as the reference, or a
  batch (B, C, H, W) → (B,), every sample reduced exactly as the reference reduces one.
- :func:`multi_wasserstein_distortion` — several arrays per image at different resolutions; the sigma map
  is resized (antialiased linear, as ``jax.image.resize``) and shifted to each array's resolution.
- :func:`vgg16_wasserstein_distortion` — the VGG-16 front end of CoDeX (ImageNet-normalised image plus
  relu1_2 … relu5_3 at ``num_scales`` scales, average pooling).
- :class:`WassersteinDistortion` — the training loss, ``forward(reconstruction, target) -> (B,)`` for
  images in [0, 1], holding its sigma map and front end ("pixels" or "vgg16").

Inputs are float32 or float64 tensors (computed in their own dtype; float16/bfloat16 are computed in
float32), on any device. Gradients follow the reference's custom rules: :func:`lower_limit` on the
variances and :func:`safe_sqrt` with a capped derivative.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .. import usage
from ..checks import (
    check_float_tensor,
    check_images,
    check_nonnegative_int,
    check_positive_int,
    check_same_shape,
)
from .backbones import Backbone, backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FRONT_ENDS = ("pixels", "vgg16")

# --------------------------------------------------------------------------------------------------
# Custom-gradient primitives


def _lower_limit_grad_(grad: torch.Tensor, inactive: torch.Tensor) -> torch.Tensor:
    """Backward of ``lower_limit`` in place: ``grad`` passes where the limit was inactive (x >= limit);
    below the limit only where it is negative, i.e. where a descent step raises x into the allowed region."""
    return grad.masked_fill_(~(inactive | (grad < 0)), 0.0)


def _safe_sqrt_slope(root: torch.Tensor, limit: float) -> torch.Tensor:
    """Derivative of ``safe_sqrt`` at x = root²: min(0.5 / sqrt(x), limit), exactly ``limit`` at x = 0."""
    return (0.5 / root).clamp_(max=limit)


class _LowerLimit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, limit: float) -> torch.Tensor:
        ctx.save_for_backward(x >= limit)
        return x.clamp(min=limit)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (inactive,) = ctx.saved_tensors
        return _lower_limit_grad_(grad.clone(), inactive), None


class _SafeSqrt(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, limit: float) -> torch.Tensor:
        root = torch.sqrt(x)
        ctx.save_for_backward(root)
        ctx.limit = limit
        return root

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (root,) = ctx.saved_tensors
        return _safe_sqrt_slope(root, ctx.limit) * grad, None


def lower_limit(x: torch.Tensor, limit: float = 0.0) -> torch.Tensor:
    """``max(x, limit)`` whose gradient passes where ``x >= limit``, and below the limit only when negative.

    Below the limit a negative upstream gradient g still passes (gradient descent would raise x into the
    allowed region); a positive one is stopped. The limit itself gets no gradient. Reverse mode only.
    """
    check_float_tensor(x, "x")
    return _LowerLimit.apply(x, float(limit))


def safe_sqrt(x: torch.Tensor, limit: float = 1e6) -> torch.Tensor:
    """``sqrt(x)`` whose derivative is ``min(0.5 / sqrt(x), limit)``: exactly ``limit`` at x = 0.

    ``x`` must be non-negative. With ``limit = inf`` the derivative at 0 is inf (and NaN where the upstream
    gradient is 0), as in the reference.
    """
    check_float_tensor(x, "x")
    _check_limit(limit)
    return _SafeSqrt.apply(x, float(limit))


# --------------------------------------------------------------------------------------------------
# Blur and statistics pyramid


def _same_padding(size: int, stride: int) -> tuple[int, int]:
    """XLA 'SAME' padding (before, after) of a length-3 window along an axis of ``size`` samples."""
    out = -(-size // stride)
    total = max((out - 1) * stride + 3 - size, 0)
    return total // 2, total - total // 2


def _binomial_kernel(channels: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=dtype, device=device)
    return torch.outer(taps, taps).expand(channels, 1, 3, 3).contiguous()


def _conv_format(x: torch.Tensor) -> torch.memory_format:
    """Layout for the depthwise convolution: on CPU, oneDNN's float32 depthwise kernel is an order of
    magnitude faster channels-last; float64 (and CUDA) keep the default layout."""
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return torch.channels_last
    return torch.contiguous_format


def _conv_blur(x: torch.Tensor) -> torch.Tensor:
    """Stride-1 binomial blur of x (N, C, H, W), zero padding 1 on every side ('SAME' for stride 1)."""
    x = x.contiguous(memory_format=_conv_format(x))
    kernel = _binomial_kernel(x.shape[1], dtype=x.dtype, device=x.device)
    return F.conv2d(x, kernel, padding=1, groups=x.shape[1])


def _transpose_planes(x: torch.Tensor, *, to_channels_last: bool) -> torch.Tensor:
    """x (N, C, H, W) in the other layout, as a batched 2-D transpose (several times faster on CPU than
    the generic strided copy of ``.contiguous(memory_format=...)``)."""
    n, c, h, w = x.shape
    if to_channels_last:
        return x.reshape(n, c, h * w).transpose(1, 2).contiguous().view(n, h, w, c).permute(0, 3, 1, 2)
    return x.permute(0, 2, 3, 1).reshape(n, h * w, c).transpose(1, 2).contiguous().view(n, c, h, w)


class _ToChannelsLast(torch.autograd.Function):
    """Contiguous (N, C, H, W) features to channels-last; the gradient returns in the default layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return _transpose_planes(x, to_channels_last=True)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _transpose_planes(grad.contiguous(memory_format=torch.channels_last), to_channels_last=False)


def _to_conv_layout(x: torch.Tensor) -> torch.Tensor:
    layout = _conv_format(x)
    if layout == torch.channels_last and x.is_contiguous() and not x.is_contiguous(memory_format=layout):
        return _ToChannelsLast.apply(x)
    return x.contiguous(memory_format=layout)


class _Blur(torch.autograd.Function):
    """Stride-1 blur whose backward is the same blur: with a symmetric kernel and symmetric zero padding
    the convolution is self-adjoint, and the forward kernel is much faster than the generic backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return _conv_blur(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _Blur.apply(grad)


def _blur(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Binomial blur of each (H, W) plane of x (N, C, H, W) as one depthwise convolution (groups = C)."""
    if stride == 1:
        return _Blur.apply(x)
    channels, height, width = x.shape[1:]
    top, bottom = _same_padding(height, stride)
    left, right = _same_padding(width, stride)
    kernel = _binomial_kernel(channels, dtype=x.dtype, device=x.device)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), kernel, stride=stride, groups=channels)


def lowpass(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Blur every (H, W) plane of ``x`` (..., H, W) with the 3×3 binomial kernel [1, 2, 1]ᵀ[1, 2, 1] / 16.

    Zero padding follows XLA's 'SAME' rule per axis: output size ceil(n / stride); for stride 2 and an
    even size the padding is 0 before and 1 after, so output j is centred on input 2j + 1 (on 2j for odd
    sizes). Returns (..., ceil(H / stride), ceil(W / stride)) in the dtype of ``x``.
    """
    check_float_tensor(x, "x")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., H, W) with at least 2 dimensions; got {tuple(x.shape)}")
    check_positive_int(stride, "stride")
    if x.numel() == 0:
        raise ValueError(f"x must not be empty; got shape {tuple(x.shape)}")
    lead, (height, width) = x.shape[:-2], x.shape[-2:]
    planes = x.reshape(1, -1, height, width)
    out = _blur(planes, stride)
    return out.reshape(*lead, *out.shape[-2:])


def _pyramid(features: torch.Tensor, num_levels: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Blurred first and second moments (N, C, ceil(H / 2^k), ceil(W / 2^k)) of features, k = 0 … L − 1.

    Each level blurs the previous level's blurred moments subsampled at even indices, as the reference.
    """
    first, second = features, features.square()
    for _ in range(num_levels):
        mean, power = _blur(first, 1), _blur(second, 1)
        yield mean, power
        first, second = mean[..., ::2, ::2], power[..., ::2, ::2]


class _LevelMap(torch.autograd.Function):
    """The level map (ma − mb)² + (sa − sb)², s = safe_sqrt(lower_limit(p − m², 0)), of one pyramid level.

    Inputs: blurred means and second moments (N, C, h, w) of a and b. Output: the map (N, C, h, w), or
    its sum over channels (N, h, w) when ``channel_sum``. The same numbers and gradient rules as composing
    :func:`lower_limit` and :func:`safe_sqrt` under autograd (their rules are shared helpers), with a few
    full-size temporaries instead of dozens: on CPU these allocations, not the arithmetic, cost the time.
    """

    @staticmethod
    def forward(ctx, mean_a, power_a, mean_b, power_b, limit: float, channel_sum: bool, track: bool):
        stddevs, inactive = [], []
        for mean, power in ((mean_a, power_a), (mean_b, power_b)):
            variance = mean.square()
            torch.sub(power, variance, out=variance)  # the raw difference E[f²] − E[f]², as the reference
            inactive.append(variance >= 0 if track else None)
            stddevs.append(variance.clamp_(min=0).sqrt_())
        if track:
            mean_diff, std_diff = mean_a - mean_b, stddevs[0] - stddevs[1]
            level_map = mean_diff.square().addcmul_(std_diff, std_diff)
            ctx.save_for_backward(mean_a, mean_b, *stddevs, mean_diff, std_diff, *inactive)
            ctx.limit, ctx.channel_sum = limit, channel_sum
        else:  # nothing is saved: reuse the temporaries
            std_diff = stddevs[0].sub_(stddevs[1])
            level_map = (mean_a - mean_b).square_().addcmul_(std_diff, std_diff)
        return level_map.sum(dim=1) if channel_sum else level_map

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        mean_a, mean_b, std_a, std_b, mean_diff, std_diff, inactive_a, inactive_b = ctx.saved_tensors
        twice = 2 * (grad.unsqueeze(1) if ctx.channel_sum else grad)
        grad_mean_diff, grad_std_diff = mean_diff * twice, std_diff * twice
        grads: list[torch.Tensor | None] = [None] * 7
        for index, mean, std, inactive, sign in (
            (0, mean_a, std_a, inactive_a, 1.0),
            (2, mean_b, std_b, inactive_b, -1.0),
        ):
            if not (ctx.needs_input_grad[index] or ctx.needs_input_grad[index + 1]):
                continue
            # d/d variance through safe_sqrt, then lower_limit's rule; variance = power − mean².
            grad_variance = _safe_sqrt_slope(std, ctx.limit).mul_(grad_std_diff)
            if sign < 0:
                grad_variance.neg_()
            _lower_limit_grad_(grad_variance, inactive)
            grad_mean = torch.addcmul(grad_mean_diff, mean, grad_variance, value=-2 * sign)
            grads[index] = grad_mean if sign > 0 else grad_mean.neg_()
            grads[index + 1] = grad_variance
        return tuple(grads)


@dataclass
class MultiscaleStats:
    """Local statistics per level k = 0 … L − 1, each (…, C, ceil(H / 2^k), ceil(W / 2^k)).

    ``variances`` are the raw differences E[f²] − E[f]², which round-off can make slightly negative.
    """

    means: list[torch.Tensor]
    variances: list[torch.Tensor]


def multiscale_stats(features: torch.Tensor, num_levels: int = 5) -> MultiscaleStats:
    """Local means and variances of ``features`` (C, H, W) or (B, C, H, W) on ``num_levels`` levels.

    Level 0 is the full resolution blurred once; each further level blurs the previous level's blurred
    first and second moments subsampled at even indices.
    """
    check_float_tensor(features, "features")
    if features.dim() not in (3, 4):
        raise ValueError(f"features must have shape (C, H, W) or (B, C, H, W); got {tuple(features.shape)}")
    check_nonnegative_int(num_levels, "num_levels")
    batch = features if features.dim() == 4 else features.unsqueeze(0)
    means, variances = [], []
    for mean, power in _pyramid(batch, num_levels):
        variance = power - mean.square()
        means.append((mean if features.dim() == 4 else mean[0]).contiguous())
        variances.append((variance if features.dim() == 4 else variance[0]).contiguous())
    return MultiscaleStats(means, variances)


# --------------------------------------------------------------------------------------------------
# Single-array Wasserstein Distortion


@dataclass
class WassersteinIntermediates:
    """What the distortion was summed from (the reference's ``wd_maps`` and ``weights``).

    ``wd_maps[i]``, i = 0 … L: (…, C, H_i′, W_i′) — level 0 the pointwise squared error, level k + 1 the
    squared W2 distance between the per-channel Gaussians of statistics level k (H_0′ = H_1′ = H,
    H_i′ = ceil(H / 2^(i−1))). ``weights[i]``: (…, H_i′, W_i′), the hat function of log2 σ around level i
    (log2 σ blurred and downsampled i − 1 times for i ≥ 2). The leading dimension is the batch where the
    input had one (weights: where log2_sigma had one).
    """

    wd_maps: list[torch.Tensor]
    weights: list[torch.Tensor]

    def level_terms(self) -> list[torch.Tensor]:
        """Each level's contribution to the distortion, mean(weight · map); they sum to the distortion."""
        return [
            (w.unsqueeze(-3) * m).mean(dim=(-3, -2, -1))
            for w, m in zip(self.weights, self.wd_maps, strict=True)
        ]


def _check_limit(sqrt_grad_limit) -> None:
    if (
        isinstance(sqrt_grad_limit, bool)
        or not isinstance(sqrt_grad_limit, (int, float))
        or not sqrt_grad_limit > 0
    ):
        raise ValueError(f"sqrt_grad_limit must be a number > 0 (inf allowed); got {sqrt_grad_limit!r}")


def _check_options(num_levels, sqrt_grad_limit, return_intermediates) -> None:
    check_nonnegative_int(num_levels, "num_levels")
    _check_limit(sqrt_grad_limit)
    if not isinstance(return_intermediates, bool):
        raise TypeError(f"return_intermediates must be a bool; got {return_intermediates!r}")


def _check_pair(a, b, name_a: str, name_b: str) -> None:
    """Types, dtypes, devices, ranks and shapes of two feature arrays."""
    check_float_tensor(a, name_a)
    check_float_tensor(b, name_b)
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} and {name_b} must have the same dtype; got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device; got {a.device} and {b.device}")
    if a.dim() not in (3, 4):
        raise ValueError(f"{name_a} must have shape (C, H, W) or (B, C, H, W); got {tuple(a.shape)}")
    check_same_shape(a, b, name_a, name_b)
    if 0 in a.shape:
        raise ValueError(
            f"{name_a} must have at least one channel, one row and one column (and a non-empty batch); "
            f"got shape {tuple(a.shape)}"
        )


def _check_sigma_tensor(log2_sigma, device: torch.device, *, batch: int | None) -> None:
    check_float_tensor(log2_sigma, "log2_sigma")
    if log2_sigma.device != device:
        raise ValueError(f"log2_sigma must be on the features' device {device}; got {log2_sigma.device}")
    if log2_sigma.dim() not in ((2,) if batch is None else (2, 3)) or 0 in log2_sigma.shape:
        expected = "(H, W)" if batch is None else f"(H, W) or (B, H, W) with B = {batch}"
        raise ValueError(f"log2_sigma must have shape {expected}; got {tuple(log2_sigma.shape)}")
    if batch is not None and log2_sigma.dim() == 3 and log2_sigma.shape[0] != batch:
        raise ValueError(
            f"log2_sigma must have shape (H, W) or (B, H, W) with the features' batch size B = {batch}; "
            f"got {tuple(log2_sigma.shape)}"
        )


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 and float64 compute in their own dtype; half precisions are computed in float32."""
    return torch.promote_types(dtype, torch.float32)


def _check_values(
    finite: list[tuple[str, torch.Tensor]], bounded: list[tuple[str, torch.Tensor]], num_levels
):
    """All tensors finite and max <= num_levels for the sigma maps in ``bounded``, with one device sync."""
    tensors = finite + bounded
    with torch.no_grad():
        # min and max propagate NaN and Inf: one reduction pass instead of an elementwise isfinite
        flags = [torch.isfinite(torch.stack(torch.aminmax(x))).all().double() for _, x in tensors]
        maxima = [s.max().double() for _, s in bounded]
        values = torch.stack(flags + maxima).tolist()
    for (name, _), is_finite in zip(tensors, values[: len(tensors)], strict=True):
        if not is_finite:
            raise ValueError(f"{name} must be finite; it contains NaN or Inf")
    for (name, _), maximum in zip(bounded, values[len(tensors) :], strict=True):
        if maximum > num_levels:
            raise ValueError(
                f"{name} must have max(log2_sigma) <= num_levels = {num_levels}; got max {maximum:.6g}"
            )


_CHUNK_BYTES = 4 << 20


def _channel_chunk(features: torch.Tensor) -> int:
    """Channels per chunk: on CPU, so that a full-resolution chunk stays around 4 MiB, cache-sized and
    small enough for the allocator to recycle its temporaries instead of mapping fresh pages for every
    one (page faults cost more than the arithmetic); all channels at once on accelerators."""
    if features.device.type != "cpu":
        return features.shape[1]
    plane = features.shape[0] * features.shape[2] * features.shape[3] * features.element_size()
    return max(1, _CHUNK_BYTES // plane)


def _sigma_weights(log2_sigma: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Hat-function weights of levels 0 … L: w_i = relu(1 − |s − i|) with s blurred and halved
    (``lowpass(·, 2)``) after every level i >= 1, so levels 0 and 1 share the full-resolution s."""
    weights, sigma = [], log2_sigma
    for level in range(num_levels + 1):
        weights.append(torch.relu(1 - (sigma - level).abs()))
        if 0 < level < num_levels:
            sigma = lowpass(sigma, 2)
    return weights


def _distortion(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    num_levels: int,
    sqrt_grad_limit: float,
    keep: bool,
) -> tuple[torch.Tensor, WassersteinIntermediates | None]:
    """The algorithm on validated inputs: features (B, C, H, W), log2_sigma (H, W) or (B, H, W) → (B,).

    Level i contributes mean(weight_i · map_i) = sum(weight_i · Σ_c map_i) / (C·h_i·w_i). Channels are
    independent, so they are processed in chunks (:func:`_channel_chunk`) and their channel sums added.
    """
    weights = _sigma_weights(log2_sigma, num_levels)
    channels = features_a.shape[1]
    track = torch.is_grad_enabled() and (features_a.requires_grad or features_b.requires_grad)
    sums: list[torch.Tensor | int] = [0] * (num_levels + 1)
    maps: list[list[torch.Tensor]] = [[] for _ in range(num_levels + 1)]
    step = channels if keep else _channel_chunk(features_a)
    # split (not slicing): its backward is one concatenation instead of a zero-filled copy per chunk
    for chunk_a, chunk_b in zip(features_a.split(step, dim=1), features_b.split(step, dim=1), strict=True):
        a, b = _to_conv_layout(chunk_a), _to_conv_layout(chunk_b)
        difference = a - b
        level_maps = [difference.square() if keep else torch.linalg.vecdot(difference, difference, dim=1)]
        for (mean_a, power_a), (mean_b, power_b) in zip(
            _pyramid(a, num_levels), _pyramid(b, num_levels), strict=True
        ):
            level_maps.append(
                _LevelMap.apply(mean_a, power_a, mean_b, power_b, sqrt_grad_limit, not keep, track)
            )
        for level, level_map in enumerate(level_maps):
            if keep:
                maps[level].append(level_map.contiguous())
                level_map = level_map.sum(dim=1)
            sums[level] = sums[level] + (weights[level] * level_map).sum(dim=(-2, -1))
    dist = features_a.new_zeros(features_a.shape[0])
    for level, weight in enumerate(weights):
        dist = dist + sums[level] / (channels * weight.shape[-2] * weight.shape[-1])
    if not keep:
        return dist, None
    return dist, WassersteinIntermediates([torch.cat(m, dim=1) for m in maps], weights)


def wasserstein_distortion(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    *,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, WassersteinIntermediates]:
    """Wasserstein Distortion between two feature arrays under a log2-sigma map.

    Shapes: ``features_a``, ``features_b`` (C, H, W) with ``log2_sigma`` (H, W) → 0-d, as the reference; or
    batched (B, C, H, W) with ``log2_sigma`` (H, W) (shared) or (B, H, W) → (B,), each sample reduced
    exactly as the reference reduces one. Features are in any units (the distortion is in their units
    squared); log2 σ is in pixels of the feature grid, 0 … ``num_levels``.

    Sum over levels i = 0 … L of mean over (C, H_i′, W_i′) of weight_i · wd_map_i (see
    :class:`WassersteinIntermediates`). ``sqrt_grad_limit`` caps the derivative of the square root of the
    variances (:func:`safe_sqrt`). With ``return_intermediates=True`` returns ``(distortion,
    WassersteinIntermediates)``.

    Raises ``TypeError`` for non-tensors or non-float dtypes and ``ValueError`` for mismatched shapes, a
    sigma map of the wrong shape, non-finite values, or max(log2_sigma) > num_levels (one device sync).
    """
    _check_options(num_levels, sqrt_grad_limit, return_intermediates)
    _check_pair(features_a, features_b, "features_a", "features_b")
    batched = features_a.dim() == 4
    _check_sigma_tensor(log2_sigma, features_a.device, batch=features_a.shape[0] if batched else None)
    if tuple(log2_sigma.shape[-2:]) != tuple(features_a.shape[-2:]):
        raise ValueError(
            f"log2_sigma must have the features' spatial shape (H, W) = {tuple(features_a.shape[-2:])}; "
            f"got {tuple(log2_sigma.shape)}"
        )
    _check_values(
        [("features_a", features_a), ("features_b", features_b)], [("log2_sigma", log2_sigma)], num_levels
    )
    dtype = _compute_dtype(features_a.dtype)
    a, b, sigma = features_a.to(dtype), features_b.to(dtype), log2_sigma.to(dtype)
    if not batched:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    dist, intermediates = _distortion(a, b, sigma, num_levels, float(sqrt_grad_limit), return_intermediates)
    if batched:
        return (dist, intermediates) if return_intermediates else dist
    if intermediates is not None:
        intermediates.wd_maps = [m[0] for m in intermediates.wd_maps]
    return (dist[0], intermediates) if return_intermediates else dist[0]


# --------------------------------------------------------------------------------------------------
# Several feature arrays per image


def _resize_matrix(size_in: int, size_out: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(size_out, size_in) weights of ``jax.image.resize(method="linear", antialias=True)`` along one axis.

    Half-pixel centres; a triangle kernel widened by the scale factor when downsampling; rows sum to 1.
    """
    inv_scale = 1.0 / (size_out / size_in)
    kernel_scale = max(inv_scale, 1.0)
    centres = (torch.arange(size_out, dtype=dtype, device=device) + 0.5) * inv_scale - 0.5
    inputs = torch.arange(size_in, dtype=dtype, device=device)
    weights = torch.relu(1 - (centres[:, None] - inputs[None, :]).abs() / kernel_scale)
    return weights / weights.sum(dim=1, keepdim=True)


def resize_log2_sigma(log2_sigma: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The sigma map a feature array of spatial ``size`` (h, w) gets in :func:`multi_wasserstein_distortion`.

    ``log2_sigma`` (H, W) or (B, H, W) is resized to (h, w) like ``jax.image.resize(..., "linear",
    antialias=True)``, then lowered by the log2 of the size ratio, ½·(log2(H/h) + log2(W/w)), since each
    feature element covers that many more pixels, and clamped at 0. Arrays larger than the map get a
    negative shift (sigma rises).
    """
    check_float_tensor(log2_sigma, "log2_sigma")
    if log2_sigma.dim() not in (2, 3) or 0 in log2_sigma.shape:
        raise ValueError(f"log2_sigma must have shape (H, W) or (B, H, W); got {tuple(log2_sigma.shape)}")
    if len(size) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in size):
        raise ValueError(f"size must be two positive ints (h, w); got {size!r}")
    (height, width), (h, w) = log2_sigma.shape[-2:], size
    resized = log2_sigma
    if (h, w) != (height, width):  # at equal size the weights are the identity matrix exactly
        rows = _resize_matrix(height, h, dtype=log2_sigma.dtype, device=log2_sigma.device)
        cols = _resize_matrix(width, w, dtype=log2_sigma.dtype, device=log2_sigma.device)
        resized = rows @ log2_sigma @ cols.T
    shift = (math.log2(height / h) + math.log2(width / w)) / 2
    return torch.relu(resized - shift)


@dataclass
class MultiWassersteinIntermediates:
    """Per feature array j: ``wd_maps[j]`` and ``weights[j]`` as in :class:`WassersteinIntermediates`,
    ``distortions[j]`` its distortion (they sum to the total) and ``log2_sigmas[j]`` the resized, shifted
    sigma map it was given (:func:`resize_log2_sigma`)."""

    wd_maps: list[list[torch.Tensor]]
    weights: list[list[torch.Tensor]]
    distortions: list[torch.Tensor]
    log2_sigmas: list[torch.Tensor]


def multi_wasserstein_distortion(
    features_a: Sequence[torch.Tensor],
    features_b: Sequence[torch.Tensor],
    log2_sigma: torch.Tensor,
    *,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, MultiWassersteinIntermediates]:
    """Sum of Wasserstein Distortions over pairs of feature arrays of different resolutions.

    ``features_a[j]`` and ``features_b[j]`` are (C_j, h_j, w_j) — or all batched (B, C_j, h_j, w_j) — and
    should share the aspect ratio of ``log2_sigma`` (H, W) (or (B, H, W) for batched features), which is
    given to array j through :func:`resize_log2_sigma`. The per-array distortions are summed unweighted:
    0-d, or (B,) for batched features. Empty lists give 0. ``return_intermediates=True`` returns
    ``(distortion, MultiWassersteinIntermediates)``.
    """
    _check_options(num_levels, sqrt_grad_limit, return_intermediates)
    for name, value in (("features_a", features_a), ("features_b", features_b)):
        if isinstance(value, torch.Tensor) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of feature tensors; got {type(value).__name__}")
    if len(features_a) != len(features_b):
        raise ValueError(
            "features_a and features_b must have the same length; "
            f"got {len(features_a)} and {len(features_b)}"
        )
    check_float_tensor(log2_sigma, "log2_sigma")
    if not features_a:
        return torch.zeros((), dtype=_compute_dtype(log2_sigma.dtype), device=log2_sigma.device)
    for j, (a, b) in enumerate(zip(features_a, features_b, strict=True)):
        _check_pair(a, b, f"features_a[{j}]", f"features_b[{j}]")
    first = features_a[0]
    for j, a in enumerate(features_a):
        if a.dim() != first.dim() or (a.dim() == 4 and a.shape[0] != first.shape[0]):
            raise ValueError(
                f"feature arrays must all be (C, H, W) or all (B, C, H, W) with the same B; features_a[0] "
                f"has shape {tuple(first.shape)}, features_a[{j}] {tuple(a.shape)}"
            )
        if a.dtype != first.dtype or a.device != first.device:
            raise TypeError(
                f"feature arrays must share dtype and device; features_a[0] is {first.dtype} on "
                f"{first.device}, features_a[{j}] {a.dtype} on {a.device}"
            )
    batched = first.dim() == 4
    _check_sigma_tensor(log2_sigma, first.device, batch=first.shape[0] if batched else None)
    dtype = _compute_dtype(first.dtype)
    sigma = log2_sigma.to(dtype)
    resized = [resize_log2_sigma(sigma, tuple(a.shape[-2:])) for a in features_a]
    named_features = [(f"features_{s}[{j}]", f) for j in range(len(features_a)) for s, f in
                      (("a", features_a[j]), ("b", features_b[j]))]  # fmt: skip
    named_sigmas = [
        (f"log2_sigma resized for features_a[{j}] (shape {tuple(s.shape)})", s) for j, s in enumerate(resized)
    ]
    _check_values([*named_features, ("log2_sigma", sigma)], named_sigmas, num_levels)

    total, parts, maps, weights = None, [], [], []
    for a, b, s in zip(features_a, features_b, resized, strict=True):
        a, b = a.to(dtype), b.to(dtype)
        if not batched:
            a, b = a.unsqueeze(0), b.unsqueeze(0)
        dist, inter = _distortion(a, b, s, num_levels, float(sqrt_grad_limit), return_intermediates)
        if not batched:
            dist = dist[0]
        total = dist if total is None else total + dist
        if inter is not None:
            parts.append(dist)
            maps.append(inter.wd_maps if batched else [m[0] for m in inter.wd_maps])
            weights.append(inter.weights)
    if return_intermediates:
        return total, MultiWassersteinIntermediates(maps, weights, parts, resized)
    return total


# --------------------------------------------------------------------------------------------------
# VGG-16 front end


def _check_image_pair(image_a, image_b) -> bool:
    """Images (3, H, W) or (B, 3, H, W) in [0, 1] of equal shape; returns whether they are batched."""
    for name, image in (("image_a", image_a), ("image_b", image_b)):
        check_float_tensor(image, name)
        if image.dim() not in (3, 4):
            raise ValueError(f"{name} must have shape (3, H, W) or (B, 3, H, W); got {tuple(image.shape)}")
        check_images((image if image.dim() == 4 else image.unsqueeze(0)).detach(), name)
    check_same_shape(image_a, image_b, "image_a", "image_b")
    return image_a.dim() == 4


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
            image = _blur(image, 2)
    return features


_RANDOM_WEIGHTS_REASON = "features are not ImageNet features; metric values are not the published ones"


@functools.lru_cache(maxsize=4)
def _cached_vgg16(weights: str | None, device: torch.device, dtype: torch.dtype) -> Backbone:
    network = backbone("vgg16", weights=weights, pooling="avg").to(device=device, dtype=dtype)
    return network.requires_grad_(False)


def _vgg16_for(weights, device: torch.device, dtype: torch.dtype) -> Backbone:
    key = None if weights is None else str(weights) if weights == "imagenet" else str(Path(weights).resolve())
    network = _cached_vgg16(key, device, dtype)
    # A notebook's provenance clears the usage record; a cached network still counts as used.
    if not any(r.name == "vgg16 backbone" and r.source == network.weights_source for r in usage.records()):
        usage.record(
            "weights",
            "vgg16 backbone",
            network.weights_source,
            substituted=weights is None,
            reason=_RANDOM_WEIGHTS_REASON if weights is None else "",
        )
    return network


def vgg16_wasserstein_distortion(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    log2_sigma: torch.Tensor,
    *,
    num_scales: int = 3,
    num_levels: int = 5,
    sqrt_grad_limit: float = 1e6,
    weights: str | Path | None = "imagenet",
    return_intermediates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, MultiWassersteinIntermediates]:
    """VGG-16 Wasserstein Distortion between sRGB images in [0, 1], as CoDeX's front end computes it.

    ``image_a``, ``image_b``: (3, H, W) → 0-d, or (B, 3, H, W) → (B,). ``log2_sigma`` (H′, W′) of any
    size (usually the image size; (B, H′, W′) for a batch) is given to each of the 1 + 5·num_scales
    feature arrays (:func:`vgg16_features`) through :func:`resize_log2_sigma`, and the distortions summed.
    ``weights``: "imagenet" (torchvision's ImageNet VGG-16; see :mod:`laserlab.perceptual.backbones`), a
    state-dict path, or ``None`` for random weights — only when explicitly asked for (a substitution).
    The network is built once per (weights, device, dtype) and reused.
    """
    batched = _check_image_pair(image_a, image_b)
    check_positive_int(num_scales, "num_scales")
    dtype = _compute_dtype(image_a.dtype)
    a = (image_a if batched else image_a.unsqueeze(0)).to(dtype)
    b = (image_b if batched else image_b.unsqueeze(0)).to(dtype)
    network = _vgg16_for(weights, a.device, dtype)
    features = vgg16_features(torch.cat([a, b]), network, num_scales=num_scales)
    count = a.shape[0]
    features_a = [f[:count] if batched else f[0] for f in features]
    features_b = [f[count:] if batched else f[count] for f in features]
    return multi_wasserstein_distortion(
        features_a,
        features_b,
        log2_sigma,
        num_levels=num_levels,
        sqrt_grad_limit=sqrt_grad_limit,
        return_intermediates=return_intermediates,
    )


# --------------------------------------------------------------------------------------------------
# Training loss


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
        if features not in FRONT_ENDS:
            raise ValueError(f"features must be one of {FRONT_ENDS}; got {features!r}")
        _check_options(num_levels, sqrt_grad_limit, False)
        check_positive_int(num_scales, "num_scales")
        check_float_tensor(log2_sigma, "log2_sigma")
        if log2_sigma.dim() != 2 or 0 in log2_sigma.shape:
            raise ValueError(f"log2_sigma must have shape (H, W); got {tuple(log2_sigma.shape)}")
        _check_values([], [("log2_sigma", log2_sigma)], num_levels)
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
