"""Rate–distortion points and curves of codecs on images, and Bjøntegaard deltas between curves.

- :func:`evaluate` encodes and decodes each image with one codec: an :class:`RDPoint` holding the rate
  **bpp = mean over images of 8·len(file) / (H·W)** (real files, headers included) and each metric
  averaged per image, with the per-image values;
- :func:`rd_curve` evaluates one codec at several settings (e.g. qualities): a list of points;
- :func:`bd_rate` / :func:`bd_psnr` compare two curves with the ``bjontegaard`` package: the average rate
  difference in percent at equal quality (negative: the test curve needs fewer bits), or the average
  quality difference at equal rate (in the metric's unit, dB for PSNR), over the overlapping range.

Metrics (``metrics=``), each per image against the original:

- ``"psnr"``: 10·log10(1 / MSE) in dB, data range 1 (``laserlab.perceptual.psnr``); +inf for an exact
  reconstruction;
- ``"ms_ssim"``: :func:`laserlab.codecs.metrics.ms_ssim`; five scales need images above 160 pixels per
  side, smaller images use fewer (the same number for every image of a point: the number that fits the
  smallest), recorded in ``RDPoint.metric_settings["ms_ssim"]``;
- ``"lpips"``: ``laserlab.perceptual.LPIPS`` (lower is better). Pass the module as ``lpips=``; without
  it, the standard LPIPS-AlexNet v0.1 with ImageNet weights is built, which raises
  ``WeightsUnavailableError`` where the weights cannot be found — never random weights silently. The
  module's backbone source is recorded in ``RDPoint.metric_settings["lpips"]``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..checks import check_choice, check_number
from .base import Codec, check_image
from .metrics import ms_ssim, ms_ssim_scales
from .registry import build

METRICS = ("psnr", "ms_ssim", "lpips")
HIGHER_IS_BETTER = {"psnr": True, "ms_ssim": True, "lpips": False}
BD_METHODS = ("akima", "pchip", "cubic")
MIN_BD_POINTS = 4


@dataclass
class RDPoint:
    """One codec setting evaluated on a set of images.

    ``codec`` is the registry name and ``settings`` its options; ``bpp`` the mean over images of
    8·bytes / (H·W); ``metrics`` the per-image mean of each metric; ``per_image`` the values per image
    (keys ``"bytes"``, ``"bpp"`` and each metric), in the order of the images; ``metric_settings`` how
    metrics were computed where that varies (MS-SSIM scales, LPIPS network and weights).
    """

    codec: str
    settings: dict[str, object]
    bpp: float
    metrics: dict[str, float]
    per_image: dict[str, list[float]]
    metric_settings: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.settings.items())
        return f"{self.codec}({options})"

    @property
    def num_images(self) -> int:
        return len(self.per_image["bpp"])

    def value(self, name: str) -> float:
        """``"bpp"`` or a metric's mean."""
        if name == "bpp":
            return self.bpp
        if name not in self.metrics:
            raise ValueError(f"this point has the values {['bpp', *self.metrics]}; got {name!r}")
        return self.metrics[name]

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (for ``metrics.json``)."""
        return {
            "codec": self.codec,
            "settings": dict(self.settings),
            "label": self.label,
            "bpp": self.bpp,
            "metrics": dict(self.metrics),
            "per_image": {key: list(values) for key, values in self.per_image.items()},
            "metric_settings": dict(self.metric_settings),
        }


def _image_list(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(
                f"images must be a batch (B, 3, H, W) or a list of (3, H, W); got {tuple(images.shape)}"
            )
        images = list(images)
    if not isinstance(images, Sequence) or isinstance(images, str) or not images:
        raise TypeError("images must be a non-empty list of (3, H, W) tensors or a batch (B, 3, H, W)")
    for i, image in enumerate(images):
        check_image(image, f"images[{i}]")
    return list(images)


def _check_metrics(metrics) -> tuple[str, ...]:
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a sequence of names from {list(METRICS)}; got {metrics!r}")
    for name in metrics:
        check_choice(name, "metric", METRICS)
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics must not repeat a name; got {list(metrics)}")
    return tuple(metrics)


def _lpips_module(lpips):
    from ..perceptual import LPIPS

    if lpips is None:
        return LPIPS("alex")  # ImageNet backbone + published heads, or WeightsUnavailableError
    if not isinstance(lpips, LPIPS):
        raise TypeError(
            f"lpips must be a laserlab.perceptual.LPIPS module or None; got {type(lpips).__name__}"
        )
    return lpips


def _lpips_description(lpips) -> str:
    source = lpips.backbone.weights_source
    note = "" if lpips.backbone_pretrained else " — NOT the published LPIPS (random backbone)"
    return f"LPIPS-{lpips.net} v{lpips.version}, backbone weights: {source}{note}"


def evaluate(
    codec: Codec,
    images,
    *,
    metrics: Sequence[str] = METRICS,
    lpips=None,
) -> RDPoint:
    """Encode and decode each image with ``codec``; rate and metrics as an :class:`RDPoint`.

    ``images``: a list of float tensors (3, H, W) in [0, 1] (sizes may differ) or a batch (B, 3, H, W).
    ``metrics``: names from ``METRICS``. ``lpips``: the ``laserlab.perceptual.LPIPS`` module for
    ``"lpips"`` (default: LPIPS-AlexNet with ImageNet weights; see the module docstring).
    """
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must be a Codec (see codecs.build); got {type(codec).__name__}")
    images = _image_list(images)
    metrics = _check_metrics(metrics)
    metric_settings: dict[str, str] = {}
    scales = None
    if "ms_ssim" in metrics:
        scales = min(ms_ssim_scales(*image.shape[-2:]) for image in images)
        rule = "standard" if scales == 5 else "fewer: images are at most 160 px on their shorter side"
        metric_settings["ms_ssim"] = f"{scales} scale(s) ({rule})"
    if "lpips" in metrics:
        lpips = _lpips_module(lpips)
        metric_settings["lpips"] = _lpips_description(lpips)
    per_image: dict[str, list[float]] = {"bytes": [], "bpp": [], **{name: [] for name in metrics}}
    for image in images:
        data = codec.encode(image)
        reconstruction = codec.decode(data)
        _, height, width = image.shape
        if reconstruction.shape != image.shape:
            raise ValueError(
                f"{codec.label} decoded an image of shape {tuple(reconstruction.shape)} from one of "
                f"{tuple(image.shape)}"
            )
        per_image["bytes"].append(float(len(data)))
        per_image["bpp"].append(8.0 * len(data) / (height * width))
        x, target = reconstruction[None].to(image), image[None]
        for name in metrics:
            per_image[name].append(_metric(name, x, target, scales=scales, lpips=lpips))
    means = {name: math.fsum(per_image[name]) / len(images) for name in metrics}
    bpp = math.fsum(per_image["bpp"]) / len(images)
    return RDPoint(codec.name, dict(codec.settings), bpp, means, per_image, metric_settings)


@torch.no_grad()
def _metric(name: str, x: torch.Tensor, target: torch.Tensor, *, scales: int | None, lpips) -> float:
    from ..perceptual import psnr

    if name == "psnr":
        return float(psnr(x, target)[0])
    if name == "ms_ssim":
        return float(ms_ssim(x, target, scales=scales)[0])
    parameter = next(lpips.parameters())
    return float(lpips(x.to(parameter), target.to(parameter))[0])


def rd_curve(
    codec: str | Codec,
    images,
    settings: Sequence[dict[str, object] | int | float],
    *,
    metrics: Sequence[str] = METRICS,
    lpips=None,
) -> list[RDPoint]:
    """:func:`evaluate` at each of ``settings``: one point per entry.

    ``codec``: a registry name, or a codec whose settings each entry overrides. Each entry of
    ``settings`` is a dict of options, or a number meaning ``{"quality": number}``.
    """
    if isinstance(codec, Codec):
        name, base = codec.name, dict(codec.settings)
    elif isinstance(codec, str):
        name, base = codec, {}
    else:
        raise TypeError(f"codec must be a codec name or a Codec; got {type(codec).__name__}")
    if isinstance(settings, dict | str) or not isinstance(settings, Sequence) or not settings:
        raise TypeError("settings must be a non-empty list of option dicts or qualities")
    images = _image_list(images)
    metrics = _check_metrics(metrics)
    if "lpips" in metrics:
        lpips = _lpips_module(lpips)  # built once for the whole curve
    points = []
    for entry in settings:
        if isinstance(entry, bool) or not isinstance(entry, dict | int | float):
            raise TypeError(f"each setting must be an option dict or a quality number; got {entry!r}")
        options = {**base, **(entry if isinstance(entry, dict) else {"quality": entry})}
        points.append(evaluate(build(name, **options), images, metrics=metrics, lpips=lpips))
    return points


def _curve(points: Sequence[RDPoint], metric: str, role: str) -> tuple[list[float], list[float]]:
    """(rates, metric values) of a curve, checked: ≥ 4 points, finite, positive rates."""
    if isinstance(points, RDPoint) or not isinstance(points, Sequence):
        raise TypeError(f"{role} must be a list of RDPoint; got {type(points).__name__}")
    for i, point in enumerate(points):
        if not isinstance(point, RDPoint):
            raise TypeError(f"{role}[{i}] must be an RDPoint; got {type(point).__name__}")
    if len(points) < MIN_BD_POINTS:
        raise ValueError(
            f"{role} must have at least {MIN_BD_POINTS} points for a Bjøntegaard delta; got {len(points)}"
        )
    rates = [point.bpp for point in points]
    values = [point.value(metric) for point in points]
    for rate, value, point in zip(rates, values, points, strict=True):
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"{role}: {point.label} has bpp {rate!r}; BD needs finite rates > 0")
        if not math.isfinite(value):
            raise ValueError(
                f"{role}: {point.label} has {metric} {value!r}; BD needs finite values (a lossless point "
                "has infinite PSNR: leave it out)"
            )
    return rates, values


def _sorted_distinct(
    xs: list[float], ys: list[float], axis: str, role: str
) -> tuple[list[float], list[float]]:
    """Points sorted by ``xs``, which must be distinct (the interpolation is a function of them)."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    xs, ys = [xs[i] for i in order], [ys[i] for i in order]
    for a, b in itertools.pairwise(xs):
        if a == b:
            raise ValueError(f"{role} has two points with the same {axis} {a!r}; BD interpolates over {axis}")
    return xs, ys


def _bd(anchor, test, *, metric: str, method: str, min_overlap: float, over: str) -> float:
    import bjontegaard

    check_choice(metric, "metric", METRICS)
    check_choice(method, "method", BD_METHODS)
    check_number(min_overlap, "min_overlap", minimum=0.0, maximum=1.0)
    curves = []
    for points, role in ((anchor, "anchor"), (test, "test")):
        rates, values = _curve(points, metric, role)
        if over == "quality":
            values, rates = _sorted_distinct(values, rates, metric, role)
        else:
            rates, values = _sorted_distinct(rates, values, "bpp", role)
        curves.append((rates, values))
    (rate_a, value_a), (rate_t, value_t) = curves
    axis_a, axis_t = (value_a, value_t) if over == "quality" else (rate_a, rate_t)
    low, high = max(axis_a[0], axis_t[0]), min(axis_a[-1], axis_t[-1])
    if low >= high:
        axis = metric if over == "quality" else "bpp"
        raise ValueError(
            f"the curves' {axis} ranges do not overlap: anchor [{axis_a[0]:.6g}, {axis_a[-1]:.6g}], test "
            f"[{axis_t[0]:.6g}, {axis_t[-1]:.6g}]"
        )
    function = bjontegaard.bd_rate if over == "quality" else bjontegaard.bd_psnr
    return float(
        function(
            rate_a,
            value_a,
            rate_t,
            value_t,
            method=method,
            require_matching_points=False,
            min_overlap=min_overlap,
        )
    )


def bd_rate(
    anchor: Sequence[RDPoint],
    test: Sequence[RDPoint],
    *,
    metric: str = "psnr",
    method: str = "akima",
    min_overlap: float = 0.75,
) -> float:
    """Bjøntegaard-delta rate of ``test`` against ``anchor`` in percent (negative: fewer bits).

    The average of log-rate differences at equal ``metric`` over the overlapping metric range, from an
    interpolation of log10(bpp) as a function of the metric (``method``: "akima" (default, the
    ``bjontegaard`` package's recommendation), "pchip" (JVET's spreadsheet) or "cubic" (the original
    VCEG-M33 polynomial)), as (10^Δ − 1)·100. Each curve needs ≥ 4 points with distinct, finite metric
    values and bpp > 0; ranges that do not overlap raise ``ValueError``, an overlap below
    ``min_overlap`` of the union warns (``bjontegaard``'s warning).
    """
    return _bd(anchor, test, metric=metric, method=method, min_overlap=min_overlap, over="quality")


def bd_psnr(
    anchor: Sequence[RDPoint],
    test: Sequence[RDPoint],
    *,
    metric: str = "psnr",
    method: str = "akima",
    min_overlap: float = 0.75,
) -> float:
    """Bjøntegaard-delta quality of ``test`` against ``anchor``: the average ``metric`` difference at
    equal rate over the overlapping log-rate range, in the metric's unit (dB for PSNR; positive: better
    for PSNR and MS-SSIM, worse for LPIPS). Requirements as for :func:`bd_rate`."""
    return _bd(anchor, test, metric=metric, method=method, min_overlap=min_overlap, over="rate")
