"""The reference's custom-gradient primitives, and the per-level distortion map built on them.

- :func:`lower_limit` — ``max(x, limit)`` whose gradient still passes below the limit when it is negative
  (a descent step raises x back into the allowed region); the limit itself gets no gradient.
- :func:`safe_sqrt` — ``sqrt(x)`` whose derivative is capped at ``limit`` (exactly ``limit`` at x = 0).
- :func:`level_map` — (ma − mb)² + (sa − sb)² with s = safe_sqrt(lower_limit(p − m², 0)), one pyramid
  level's map, computed with a few temporaries instead of dozens (same numbers and gradient rules).

All are reverse-mode only (``once_differentiable``).
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from ...checks import check_finite, check_float_tensor, check_number
from .validation import check_sqrt_grad_limit


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
    ``x`` must be finite, ``limit`` a finite number.
    """
    check_float_tensor(x, "x")
    check_number(limit, "limit")
    check_finite(x.detach(), "x")
    return _LowerLimit.apply(x, float(limit))


def safe_sqrt(x: torch.Tensor, limit: float = 1e6) -> torch.Tensor:
    """``sqrt(x)`` whose derivative is ``min(0.5 / sqrt(x), limit)``: exactly ``limit`` at x = 0.

    ``x`` must be finite and non-negative. With ``limit = inf`` the derivative at 0 is inf (and NaN where
    the upstream gradient is 0), as in the reference.
    """
    check_float_tensor(x, "x")
    check_sqrt_grad_limit(limit)
    if x.numel():
        low, high = torch.stack(torch.aminmax(x.detach())).tolist()
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("x must be finite; it contains NaN or Inf")
        if low < 0:
            raise ValueError(f"x must be >= 0 (a square root); got min {low:.6g}")
    return _SafeSqrt.apply(x, float(limit))


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


def level_map(
    mean_a: torch.Tensor,
    power_a: torch.Tensor,
    mean_b: torch.Tensor,
    power_b: torch.Tensor,
    *,
    sqrt_grad_limit: float,
    channel_sum: bool,
    track: bool,
) -> torch.Tensor:
    """One level's map (ma − mb)² + (sa − sb)² from blurred means and second moments (N, C, h, w) of a
    and b, with s = safe_sqrt(lower_limit(p − m², 0), sqrt_grad_limit): (N, C, h, w), or (N, h, w)
    summed over channels when ``channel_sum``. ``track=False`` saves nothing for backward (use it when no
    input needs a gradient). Inputs are not validated."""
    return _LevelMap.apply(mean_a, power_a, mean_b, power_b, sqrt_grad_limit, channel_sum, track)
