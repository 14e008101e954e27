"""Log2-sigma maps for Wasserstein Distortion: where an image must match exactly and where only its texture.

A map (H, W) holds log2 σ per pixel, in pixels of its own grid: 0 means pointwise fidelity (squared error),
k means that local feature statistics over a neighbourhood of about 2^k pixels must match (realism), up to
``num_levels`` (the statistics pyramid's depth; :func:`laserlab.perceptual.wasserstein.wasserstein_distortion`
rejects larger values). Every constructor validates its levels against ``num_levels`` and returns a float
tensor (H, W) with values in [0, num_levels]:

- :func:`constant` — one level everywhere;
- :func:`foveated` — σ growing in proportion to the distance from a fixation point beyond a foveal radius;
- :func:`from_saliency` — a saliency map or mask: salient pixels get fidelity, the rest realism
  (:func:`gaussian_saliency` makes a smooth bump to try it with);
- :func:`from_boxes` — rectangles at one level on a background at another;
- :func:`smooth_random` — a seeded, smooth random field.

``build(name, **options)`` names them for configuration files and notebook parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..checks import check_finite, check_float_tensor, check_nonnegative_int, check_number
from ..registry import Registry


def _check_size(size) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in size)
    ):
        raise ValueError(f"size must be a positive int or a pair (H, W) of positive ints; got {size!r}")
    return int(size[0]), int(size[1])


def _check_level(value, name: str, num_levels: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= num_levels:
        raise ValueError(f"{name} must be a number in [0, num_levels] = [0, {num_levels}]; got {value!r}")
    return float(value)


def _check_num_levels(num_levels) -> None:
    check_nonnegative_int(num_levels, "num_levels")


def check_log2_sigma(log2_sigma, *, num_levels: int = 5, name: str = "log2_sigma") -> None:
    """``log2_sigma`` must be a finite float tensor (H, W) with values in [0, num_levels]."""
    _check_num_levels(num_levels)
    check_float_tensor(log2_sigma, name)
    if log2_sigma.dim() != 2 or 0 in log2_sigma.shape:
        raise ValueError(f"{name} must have shape (H, W); got {tuple(log2_sigma.shape)}")
    check_finite(log2_sigma, name)
    low, high = float(log2_sigma.min()), float(log2_sigma.max())
    if low < 0 or high > num_levels:
        raise ValueError(
            f"{name} must have values in [0, num_levels] = [0, {num_levels}]; "
            f"got min {low:.4g}, max {high:.4g}"
        )


def constant(
    size,
    value: float,
    *,
    num_levels: int = 5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """log2 σ = ``value`` everywhere: 0 is pointwise fidelity (MSE), ``num_levels`` the most texture-like."""
    _check_num_levels(num_levels)
    value = _check_level(value, "value", num_levels)
    return torch.full(_check_size(size), value, dtype=dtype, device=device)


def foveated(
    size,
    *,
    fixation: tuple[float, float] | None = None,
    radius: float = 8.0,
    max_log2_sigma: float | None = None,
    num_levels: int = 5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A fovea at ``fixation`` (row, column in pixels; default the centre): σ = max(1, d / radius) at
    distance d pixels, so log2 σ = clip(log2(d / radius), 0, max_log2_sigma).

    Inside ``radius`` pixels the image must match exactly; beyond it the pooling region grows in proportion
    to the eccentricity, as receptive fields do in peripheral vision. ``max_log2_sigma`` defaults to
    ``num_levels``.
    """
    _check_num_levels(num_levels)
    height, width = _check_size(size)
    if fixation is None:
        fixation = ((height - 1) / 2, (width - 1) / 2)
    if (
        not isinstance(fixation, (tuple, list))
        or len(fixation) != 2
        or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in fixation
        )
    ):
        raise ValueError(
            f"fixation must be a pair (row, column) of finite numbers in pixels; got {fixation!r}"
        )
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 < radius < math.inf:
        raise ValueError(f"radius must be a finite number of pixels > 0; got {radius!r}")
    top = _check_level(num_levels if max_log2_sigma is None else max_log2_sigma, "max_log2_sigma", num_levels)
    rows = torch.arange(height, dtype=torch.float64).sub_(fixation[0]).square_()
    cols = torch.arange(width, dtype=torch.float64).sub_(fixation[1]).square_()
    distance = (rows[:, None] + cols[None, :]).sqrt_()
    # log2(0) = -inf at the fixation point is clipped to 0 like the rest of the fovea
    log2_sigma = torch.log2(distance / radius).clamp_(0.0, top)
    return log2_sigma.to(dtype=dtype, device=device)


def from_saliency(
    saliency: torch.Tensor,
    *,
    fidelity: float = 0.0,
    realism: float | None = None,
    num_levels: int = 5,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """log2 σ from a saliency map or mask (H, W): 1 (or True) → ``fidelity``, 0 → ``realism`` (default
    ``num_levels``), linear in between. Values must lie in [0, 1]. Keeps the saliency's device; the dtype
    is ``dtype``, else the saliency's float dtype (float32 for a boolean mask)."""
    _check_num_levels(num_levels)
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"saliency must be a torch.Tensor (H, W); got {type(saliency).__name__}")
    if saliency.dtype == torch.bool:
        saliency = saliency.to(dtype or torch.float32)
    check_float_tensor(saliency, "saliency")
    if saliency.dim() != 2 or 0 in saliency.shape:
        raise ValueError(f"saliency must have shape (H, W); got {tuple(saliency.shape)}")
    check_finite(saliency, "saliency")
    low, high = float(saliency.min()), float(saliency.max())
    if low < 0 or high > 1:
        raise ValueError(f"saliency must have values in [0, 1]; got min {low:.4g}, max {high:.4g}")
    fidelity = _check_level(fidelity, "fidelity", num_levels)
    realism = _check_level(num_levels if realism is None else realism, "realism", num_levels)
    saliency = saliency.to(dtype or saliency.dtype)
    return realism + (fidelity - realism) * saliency


def gaussian_saliency(
    size,
    *,
    centre: tuple[float, float] | None = None,
    std: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A smooth saliency bump (H, W) for :func:`from_saliency`: exp(−d² / (2·std²)) at distance d pixels
    from ``centre`` (row, column in pixels; default the centre of the map), so 1 at the centre and falling
    towards 0 away from it. ``std`` is in pixels, default min(H, W) / 6."""
    height, width = _check_size(size)
    if centre is None:
        centre = ((height - 1) / 2, (width - 1) / 2)
    if not isinstance(centre, (tuple, list)):
        raise TypeError(f"centre must be a pair (row, column) of numbers in pixels; got {centre!r}")
    if len(centre) != 2:
        raise ValueError(f"centre must be a pair (row, column) of numbers in pixels; got {centre!r}")
    for value in centre:
        check_number(value, "centre")
    std = min(height, width) / 6 if std is None else std
    check_number(std, "std", minimum=0, exclusive=True)
    rows = torch.arange(height, dtype=torch.float64).sub_(centre[0]).square_()
    cols = torch.arange(width, dtype=torch.float64).sub_(centre[1]).square_()
    squared_distance = rows[:, None] + cols[None, :]
    return torch.exp(-squared_distance / (2 * std**2)).to(dtype=dtype, device=device)


def from_boxes(
    size,
    boxes: Sequence[tuple[int, int, int, int]],
    *,
    inside: float | Sequence[float] | None = None,
    outside: float = 0.0,
    num_levels: int = 5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``outside`` everywhere except the boxes (top, left, bottom, right) in pixels, bottom and right
    exclusive, which get ``inside`` (one level for all, or one per box; default ``num_levels``). Later
    boxes are drawn over earlier ones; boxes are clipped to the map."""
    _check_num_levels(num_levels)
    height, width = _check_size(size)
    outside = _check_level(outside, "outside", num_levels)
    if isinstance(boxes, torch.Tensor) or not isinstance(boxes, (list, tuple)):
        raise TypeError(
            f"boxes must be a list of (top, left, bottom, right) tuples; got {type(boxes).__name__}"
        )
    if inside is None:
        inside = float(num_levels)
    levels = list(inside) if isinstance(inside, (list, tuple)) else [inside] * len(boxes)
    if len(levels) != len(boxes):
        raise ValueError(f"inside must be one level or one per box ({len(boxes)}); got {len(levels)} levels")
    log2_sigma = torch.full((height, width), outside, dtype=dtype, device=device)
    for index, (box, level) in enumerate(zip(boxes, levels, strict=True)):
        if (
            not isinstance(box, (tuple, list))
            or len(box) != 4
            or any(isinstance(v, bool) or not isinstance(v, int) for v in box)
            or box[0] >= box[2]
            or box[1] >= box[3]
        ):
            raise ValueError(
                f"boxes[{index}] must be (top, left, bottom, right) ints with top < bottom and left < right; "
                f"got {box!r}"
            )
        top, left, bottom, right = box
        log2_sigma[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = _check_level(
            level, f"inside[{index}]" if isinstance(inside, (list, tuple)) else "inside", num_levels
        )
    return log2_sigma


def smooth_random(
    size,
    *,
    correlation_length: float = 16.0,
    low: float = 0.0,
    high: float | None = None,
    seed: int = 0,
    num_levels: int = 5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A smooth random map: seeded white noise low-passed by a Gaussian of standard deviation
    ``correlation_length`` pixels (periodic, via the FFT), rescaled to span [low, high] (default
    [0, num_levels]). The same seed gives the same map on every device."""
    _check_num_levels(num_levels)
    height, width = _check_size(size)
    if (
        isinstance(correlation_length, bool)
        or not isinstance(correlation_length, (int, float))
        or not 0 < correlation_length < math.inf
    ):
        raise ValueError(
            f"correlation_length must be a finite number of pixels > 0; got {correlation_length!r}"
        )
    low = _check_level(low, "low", num_levels)
    high = _check_level(num_levels if high is None else high, "high", num_levels)
    if low > high:
        raise ValueError(f"low must be <= high; got low {low:g}, high {high:g}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int; got {seed!r}")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((height, width), generator=generator, dtype=torch.float64)
    frequency_y = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    frequency_x = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    transfer = torch.exp(-2 * math.pi**2 * correlation_length**2 * (frequency_y**2 + frequency_x**2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * transfer).real
    span = field.max() - field.min()
    # a 1×1 map (or a field smoothed flat) has no span: put it mid-range
    unit = (field - field.min()) / span if span > 0 else torch.full_like(field, 0.5)
    return (low + (high - low) * unit).to(dtype=dtype, device=device)


#: name → constructor(size, **options) → log2-sigma map (H, W); ``saliency`` takes the saliency map instead
SIGMA_MAPS: Registry[Callable[..., torch.Tensor]] = Registry(
    "sigma map",
    {
        "constant": constant,
        "foveated": foveated,
        "saliency": from_saliency,
        "boxes": from_boxes,
        "random": smooth_random,
    },
)


def build(name: str, **options) -> torch.Tensor:
    """The map registered as ``name`` ("constant", "foveated", "saliency", "boxes", "random") built with
    its constructor's keyword ``options`` (e.g. ``build("constant", size=64, value=2)``,
    ``build("foveated", size=(64, 96), radius=6)``, ``build("saliency", saliency=mask)``)."""
    return SIGMA_MAPS.build(name, **options)
