"""The binomial blur with XLA 'SAME' zero padding, and the statistics pyramid built from it.

**Blur.** The kernel is the outer product of [1/4, 1/2, 1/4] with itself; every (H, W) plane is filtered
on its own (a depthwise convolution, ``groups = C``). Padding is zero and follows XLA's 'SAME' rule per
axis, recomputed from the current size: out = ceil(n / stride), total = max((out − 1)·stride + 3 − n, 0),
floor(total / 2) before and the rest after. So stride 1 pads 1 and 1; stride 2 pads 1 and 1 for an odd n
(output j centred on input 2j) but **0 before and 1 after for an even n** (output j centred on 2j + 1).
Example, the ramp 0 … 7: stride 2 gives [1, 3, 5, 5]; stride 1 then [::2] gives [0.25, 2, 4, 6].

**Pyramid.** With x = f and q = f², level k blurs both (stride 1), m_k = blur(x), p_k = blur(q),
v_k = p_k − m_k² (the raw difference, which round-off can make slightly negative), then subsamples the
blurred *moments* at even indices for the next level: level k has ceil(H / 2^k) × ceil(W / 2^k) samples.
Zero padding pulls means towards 0 at the borders: at level 0 a constant field c gets variance 0.1875·c²
on edges and 0.24609375·c² in corners.

On CPU, float32 convolutions run channels-last (oneDNN's depthwise kernel is an order of magnitude faster
that way); the stride-1 blur is its own adjoint, so its backward is the same fast forward kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...checks import check_finite, check_float_tensor, check_nonnegative_int, check_positive_int
from ...scaling import common_exponent, ldexp, peak


def _same_padding(size: int, stride: int) -> tuple[int, int]:
    """XLA 'SAME' padding (before, after) of a length-3 window along an axis of ``size`` samples."""
    out = -(-size // stride)
    total = max((out - 1) * stride + 3 - size, 0)
    return total // 2, total - total // 2


def binomial_kernel(channels: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 3×3 binomial kernel [1, 2, 1]ᵀ[1, 2, 1] / 16 for a depthwise convolution: (channels, 1, 3, 3)."""
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
    kernel = binomial_kernel(x.shape[1], dtype=x.dtype, device=x.device)
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


def to_conv_layout(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) in the memory layout the blur runs fastest in (channels-last for float32 on CPU),
    converted once so that every pyramid level stays in it; differentiable."""
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


def blur_planes(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Binomial blur of each (H, W) plane of x (N, C, H, W) as one depthwise convolution (groups = C),
    'SAME' zero padding: (N, C, ceil(H / stride), ceil(W / stride)). Inputs are not validated (see
    :func:`lowpass`)."""
    if stride == 1:
        return _Blur.apply(x)
    channels, height, width = x.shape[1:]
    top, bottom = _same_padding(height, stride)
    left, right = _same_padding(width, stride)
    kernel = binomial_kernel(channels, dtype=x.dtype, device=x.device)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), kernel, stride=stride, groups=channels)


def lowpass(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Blur every (H, W) plane of ``x`` (..., H, W) with the 3×3 binomial kernel [1, 2, 1]ᵀ[1, 2, 1] / 16.

    Zero padding follows XLA's 'SAME' rule per axis: output size ceil(n / stride); for stride 2 and an
    even size the padding is 0 before and 1 after, so output j is centred on input 2j + 1 (on 2j for odd
    sizes). Returns (..., ceil(H / stride), ceil(W / stride)) in the dtype of ``x``, which must be finite.
    """
    check_float_tensor(x, "x")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., H, W) with at least 2 dimensions; got {tuple(x.shape)}")
    check_positive_int(stride, "stride")
    if x.numel() == 0:
        raise ValueError(f"x must not be empty; got shape {tuple(x.shape)}")
    check_finite(x.detach(), "x")
    lead, (height, width) = x.shape[:-2], x.shape[-2:]
    planes = x.reshape(1, -1, height, width)
    out = blur_planes(planes, stride)
    return out.reshape(*lead, *out.shape[-2:])


def moment_pyramid(features: torch.Tensor, num_levels: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Blurred first and second moments (N, C, ceil(H / 2^k), ceil(W / 2^k)) of features, k = 0 … L − 1.

    Each level blurs the previous level's blurred moments subsampled at even indices, as the reference.
    Inputs are not validated (see :func:`multiscale_stats`).
    """
    first, second = features, features.square()
    for _ in range(num_levels):
        mean, power = blur_planes(first, 1), blur_planes(second, 1)
        yield mean, power
        first, second = mean[..., ::2, ::2], power[..., ::2, ::2]


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

    ``features`` must be finite and non-empty. Features whose magnitude lies outside
    :func:`laserlab.scaling.safe_range` are processed after one exact power-of-two rescaling (means scale
    linearly, variances quadratically); variances beyond the dtype's range are a ``ValueError``.
    """
    check_float_tensor(features, "features")
    if features.dim() not in (3, 4) or features.numel() == 0:
        raise ValueError(
            "features must have shape (C, H, W) or (B, C, H, W) with every size >= 1; "
            f"got {tuple(features.shape)}"
        )
    check_nonnegative_int(num_levels, "num_levels")
    _, smallest, largest = peak(features, "features")
    batch = features if features.dim() == 4 else features.unsqueeze(0)
    shift = common_exponent(smallest, largest, features.dtype)
    if shift is not None:
        batch = ldexp(batch, -shift)
    means, variances = [], []
    for mean, power in moment_pyramid(batch, num_levels):
        variance = power - mean.square()
        if shift is not None:
            mean, variance = ldexp(mean, shift), ldexp(variance, 2 * shift)
        means.append((mean if features.dim() == 4 else mean[0]).contiguous())
        variances.append((variance if features.dim() == 4 else variance[0]).contiguous())
    if shift is not None and not all(bool(torch.isfinite(v).all()) for v in variances):
        raise ValueError(
            f"the variances of features with max |f| = {largest:.3g} exceed the range of {features.dtype}; "
            "scale the features down or use float64"
        )
    return MultiscaleStats(means, variances)
