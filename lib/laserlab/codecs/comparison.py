"""Comparing curves: the trivial baselines on a model's own test images, values at a rate, BD tables.

:func:`baseline_curves` codes the images with ``mean_colour`` (one point: 24 bits plus the container)
and with ``thumbnail`` at factors f = 2, 4, 8, … (every power of two below the images' shorter side:
f = 1 would store the 8-bit image itself, f = side is the mean colour again), with real files
(:func:`laserlab.codecs.evaluate`), and returns a :class:`BaselineCurves`.

**"At a model's rate".** The thumbnail has one rate per factor. Its PSNR at a rate r (e.g. a model's
coded bpp) is interpolated **linearly in log2(bpp)** between the two neighbouring points of its curve:
each halving of f multiplies the rate by about 4, and PSNR against log-rate is close to a straight line
between neighbouring factors. A rate outside the curve's range has no thumbnail PSNR (``None``): nothing
is extrapolated. The mean colour has a single rate and cannot spend more bits: its PSNR is reported as
it is, at its own (lower) rate. :meth:`BaselineCurves.verdict` says in words where a model stands.

The same interpolation for any curve is :func:`value_at_rate`; :func:`nearest_rate` picks the point of
a curve whose rate is nearest a target (in log2(bpp)), e.g. to show every codec at about one rate.

**BD tables.** :func:`bd_table` computes the Bjøntegaard-delta rate (:func:`laserlab.codecs.bd_rate`) of
every curve against each anchor curve and returns a :class:`BDEntry` per pair. A pair that has no
trustworthy number gets ``value=None`` and the reason, never an extrapolated figure: a curve with fewer
than 4 points, non-finite or repeated values, metric ranges that do not overlap, or an overlap below
``min_overlap`` of the union of the two ranges (the ``bjontegaard`` package's measure; it only warns).

MSE for figures that plot it (:meth:`BaselineCurves.curve` with ``"mse"``) is the mean over images of
each image's MSE (10^(−PSNR/10)), which for images of one size is the MSE over all pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_choice, check_number, check_positive_int
from .evaluation import BD_METHODS, METRICS, MIN_BD_POINTS, RDPoint, bd_rate, evaluate
from .registry import build

CURVE_METRICS = ("psnr", "mse")


@dataclass
class BaselineCurves:
    """``mean_colour`` (one :class:`RDPoint`) and the ``thumbnail`` points (ascending rate) on one set of
    images; see the module docstring."""

    mean_colour: RDPoint
    thumbnail: list[RDPoint]

    @property
    def factors(self) -> list[int]:
        return [int(point.settings["factor"]) for point in self.thumbnail]

    def thumbnail_psnr_at(self, bpp: float) -> float | None:
        """The thumbnail's PSNR (dB) at ``bpp``, interpolated linearly in log2(bpp) between neighbouring
        factors; ``None`` outside the curve's rate range."""
        return value_at_rate(self.thumbnail, bpp)

    def at_rate(self, bpp: float) -> dict[str, float | None]:
        """``{"bpp", "mean_colour_psnr_db", "mean_colour_bpp", "thumbnail_psnr_db"}`` for a model at
        ``bpp`` (for ``metrics.json``)."""
        return {
            "bpp": float(bpp),
            "mean_colour_psnr_db": self.mean_colour.metrics["psnr"],
            "mean_colour_bpp": self.mean_colour.bpp,
            "thumbnail_psnr_db": self.thumbnail_psnr_at(bpp),
        }

    def curve(self, name: str, metric: str = "psnr") -> list[tuple[float, float]]:
        """(bpp, value) pairs of ``"mean_colour"`` or ``"thumbnail"`` with ``metric`` "psnr" (dB) or
        "mse" (see the module docstring)."""
        check_choice(name, "name", ("mean_colour", "thumbnail"))
        check_choice(metric, "metric", CURVE_METRICS)
        points = [self.mean_colour] if name == "mean_colour" else self.thumbnail
        return [(point.bpp, _value(point, metric)) for point in points]

    def curves(self, metric: str = "psnr") -> dict[str, list[tuple[float, float]]]:
        """Both baselines as ``{legend label: (bpp, value) pairs}`` for a rate–distortion figure."""
        factors = ", ".join(str(f) for f in reversed(self.factors))
        return {
            "mean colour": self.curve("mean_colour", metric),
            f"thumbnail (f = {factors})": self.curve("thumbnail", metric),
        }

    def verdict(self, label: str, bpp: float, psnr: float) -> str:
        """One sentence on how a model (``label``) at ``bpp`` and ``psnr`` dB compares with both
        baselines, from the numbers."""
        check_number(psnr, "psnr")
        mean = self.mean_colour.metrics["psnr"]
        thumb = self.thumbnail_psnr_at(bpp)
        versus_mean = (
            f"beats the mean colour ({mean:.2f} dB at {self.mean_colour.bpp:.3f} bpp) by {psnr - mean:.2f} dB"
            if psnr > mean
            else f"does NOT beat the mean colour ({mean:.2f} dB at {self.mean_colour.bpp:.3f} bpp): "
            f"{mean - psnr:.2f} dB worse"
        )
        if thumb is None:
            versus_thumb = "its rate lies outside the thumbnail curve, so there is no thumbnail at its rate"
        elif psnr > thumb:
            versus_thumb = f"beats the thumbnail at its rate ({thumb:.2f} dB) by {psnr - thumb:.2f} dB"
        else:
            versus_thumb = (
                f"does NOT beat the thumbnail at its rate ({thumb:.2f} dB): {thumb - psnr:.2f} dB worse"
            )
        return f"{label} ({psnr:.2f} dB at {bpp:.3f} bpp) {versus_mean}; it {versus_thumb}."

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data: each baseline's points with ``bpp``, ``psnr_db`` and ``mse`` (and the
        thumbnail's ``factor``), for tables and ``metrics.json``."""

        def entry(point: RDPoint) -> dict[str, float]:
            return {"bpp": point.bpp, "psnr_db": point.metrics["psnr"], "mse": _value(point, "mse")}

        return {
            "mean_colour": entry(self.mean_colour),
            "thumbnail": [
                {"factor": f, **entry(p)} for f, p in zip(self.factors, self.thumbnail, strict=True)
            ],
        }


def _value(point: RDPoint, metric: str) -> float:
    if metric == "psnr":
        return point.metrics["psnr"]
    per_image = point.per_image["psnr"]
    return math.fsum(10 ** (-value / 10) for value in per_image) / len(per_image)


def _check_points(points, name: str) -> list[RDPoint]:
    if isinstance(points, RDPoint | str) or not isinstance(points, Sequence) or not points:
        raise TypeError(f"{name} must be a non-empty list of RDPoint; got {type(points).__name__}")
    for i, point in enumerate(points):
        if not isinstance(point, RDPoint):
            raise TypeError(f"{name}[{i}] must be an RDPoint; got {type(point).__name__}")
    return list(points)


def value_at_rate(points: Sequence[RDPoint], bpp: float, *, metric: str = "psnr") -> float | None:
    """``metric`` of the curve ``points`` at ``bpp``, interpolated linearly in log2(bpp) between the two
    points whose rates enclose it (a point at exactly ``bpp`` gives its own value); ``None`` outside the
    curve's rate range: nothing is extrapolated. Points may come in any order; their rates must differ."""
    points = _check_points(points, "points")
    check_number(bpp, "bpp", minimum=0.0, exclusive=True)
    check_choice(metric, "metric", METRICS)
    curve = sorted((point.bpp, point.value(metric)) for point in points)
    rates = [rate for rate, _ in curve]
    if len(set(rates)) != len(rates):
        raise ValueError(f"points must have distinct rates to interpolate between them; got {rates}")
    if not rates[0] <= bpp <= rates[-1]:
        return None
    upper = next(i for i, rate in enumerate(rates) if rate >= bpp)
    if rates[upper] == bpp:
        return curve[upper][1]
    (r0, v0), (r1, v1) = curve[upper - 1], curve[upper]
    t = (math.log2(bpp) - math.log2(r0)) / (math.log2(r1) - math.log2(r0))
    return v0 + t * (v1 - v0)


def nearest_rate(points: Sequence[RDPoint], bpp: float) -> int:
    """The index in ``points`` of the point whose rate is nearest ``bpp`` in log2(bpp) (the first on a
    tie)."""
    points = _check_points(points, "points")
    check_number(bpp, "bpp", minimum=0.0, exclusive=True)
    distances = [abs(math.log2(point.bpp / bpp)) if point.bpp > 0 else math.inf for point in points]
    return distances.index(min(distances))


@dataclass(frozen=True)
class BDEntry:
    """The Bjøntegaard-delta rate of ``test`` against ``anchor`` on ``metric``: ``value`` in percent
    (negative: ``test`` needs fewer bits at equal quality), or ``None`` with the ``reason``; ``overlap``
    is the fraction of the union of the two curves' metric ranges that they share (``None`` when a
    curve could not be read)."""

    test: str
    anchor: str
    metric: str
    value: float | None
    reason: str | None
    overlap: float | None

    def text(self, digits: int = 1) -> str:
        """``"+12.3 %"`` or ``"n/a"`` for a table cell."""
        return "n/a" if self.value is None else f"{self.value:+.{digits}f} %"

    def as_dict(self) -> dict[str, object]:
        return {
            "test": self.test,
            "anchor": self.anchor,
            "metric": self.metric,
            "bd_rate_percent": self.value,
            "reason": self.reason,
            "overlap": self.overlap,
        }


def _overlap(anchor: Sequence[RDPoint], test: Sequence[RDPoint], metric: str) -> float:
    a = [point.value(metric) for point in anchor]
    t = [point.value(metric) for point in test]
    union = max(*a, *t) - min(*a, *t)
    shared = max(min(max(a), max(t)) - max(min(a), min(t)), 0.0)
    return shared / union if union > 0 else 0.0


def _bd_entry(test, points, anchor, reference, *, metric, method, min_overlap) -> BDEntry:
    for name, curve in ((test, points), (anchor, reference)):
        if len(curve) < MIN_BD_POINTS:
            reason = f"{name} has {len(curve)} point(s); a Bjøntegaard delta needs at least {MIN_BD_POINTS}"
            return BDEntry(test, anchor, metric, None, reason, None)
        bad = [point.label for point in curve if not math.isfinite(point.value(metric))]
        if bad:
            return BDEntry(test, anchor, metric, None, f"{name} has non-finite {metric} at {bad}", None)
    overlap = _overlap(reference, points, metric)
    if overlap == 0:
        reason = f"the {metric} ranges do not overlap ({_span(points, metric)} vs {_span(reference, metric)})"
        return BDEntry(test, anchor, metric, None, reason, overlap)
    if overlap < min_overlap:
        reason = (
            f"the {metric} ranges overlap on {100 * overlap:.0f} % of their union, below "
            f"{100 * min_overlap:.0f} % ({_span(points, metric)} vs {_span(reference, metric)})"
        )
        return BDEntry(test, anchor, metric, None, reason, overlap)
    try:
        value = bd_rate(reference, points, metric=metric, method=method, min_overlap=min_overlap)
    except ValueError as error:
        return BDEntry(test, anchor, metric, None, str(error), overlap)
    return BDEntry(test, anchor, metric, value, None, overlap)


def _span(points: Sequence[RDPoint], metric: str) -> str:
    values = [point.value(metric) for point in points]
    return f"[{min(values):.4g}, {max(values):.4g}]"


def bd_table(
    curves: dict[str, Sequence[RDPoint]],
    anchors: Sequence[str],
    *,
    metric: str = "psnr",
    method: str = "akima",
    min_overlap: float = 0.75,
) -> list[BDEntry]:
    """The BD-rate of every curve of ``curves`` (label → points) against each curve named in ``anchors``,
    as :class:`BDEntry` s in the order anchor by anchor, curves in their order (an anchor against itself
    is 0 %). ``metric``, ``method``: as for :func:`laserlab.codecs.bd_rate`; pairs without a trustworthy
    number carry the reason (see the module docstring)."""
    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"curves must be a non-empty dict of label -> list of RDPoint; got {curves!r}")
    for label, points in curves.items():
        _check_points(points, f"curves[{label!r}]")
    if isinstance(anchors, str) or not isinstance(anchors, Sequence) or not anchors:
        raise TypeError(f"anchors must be a non-empty list of labels of curves; got {anchors!r}")
    for anchor in anchors:
        check_choice(anchor, "anchor", list(curves))
    check_choice(metric, "metric", METRICS)
    check_choice(method, "method", BD_METHODS)
    check_number(min_overlap, "min_overlap", minimum=0.0, maximum=1.0)
    for label, points in curves.items():
        missing = [point.label for point in points if metric not in point.metrics]
        if missing:
            raise ValueError(
                f"curves[{label!r}] has no {metric!r} at {missing}; evaluate it with that metric"
            )
    return [
        _bd_entry(
            label, points, anchor, curves[anchor], metric=metric, method=method, min_overlap=min_overlap
        )
        for anchor in anchors
        for label, points in curves.items()
    ]


def thumbnail_factors(images) -> list[int]:
    """Every power-of-two thumbnail factor f = 2, 4, … below the shorter side of the smallest of
    ``images`` (a list of (…, H, W) tensors or a batch), largest first: the factors of
    :func:`baseline_curves` by default ([2] for images of at most 2 pixels a side)."""
    side = min(min(image.shape[-2:]) for image in images)
    return sorted((2**k for k in range(1, side.bit_length()) if 2**k < side), reverse=True) or [2]


def baseline_curves(
    images, *, factors: Sequence[int] | None = None, upsample: str = "bilinear"
) -> BaselineCurves:
    """Mean colour and thumbnail (at ``factors``, default 2, 4, … below the images' shorter side) on
    ``images`` (a list of (3, H, W) in [0, 1] or a batch), PSNR per image; see the module docstring."""
    if factors is not None:
        if isinstance(factors, str) or not isinstance(factors, Sequence) or not factors:
            raise TypeError(f"factors must be a non-empty list of ints; got {factors!r}")
        for factor in factors:
            check_positive_int(factor, "factors[i]")
    mean_colour = evaluate(build("mean_colour"), images, metrics=("psnr",))  # checks the images
    if factors is None:
        factors = thumbnail_factors(images)
    thumbnail = [
        evaluate(build("thumbnail", factor=f, upsample=upsample), images, metrics=("psnr",))
        for f in sorted(set(factors), reverse=True)
    ]
    return BaselineCurves(mean_colour, sorted(thumbnail, key=lambda point: point.bpp))


__all__ = [
    "CURVE_METRICS",
    "BDEntry",
    "BaselineCurves",
    "baseline_curves",
    "bd_table",
    "nearest_rate",
    "thumbnail_factors",
    "value_at_rate",
]
