"""The trivial baselines on a model's own test images, and what they reach at the model's rate.

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

MSE for figures that plot it (:meth:`BaselineCurves.curve` with ``"mse"``) is the mean over images of
each image's MSE (10^(−PSNR/10)), which for images of one size is the MSE over all pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_choice, check_number, check_positive_int
from .evaluation import RDPoint, evaluate
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
        check_number(bpp, "bpp", minimum=0.0, exclusive=True)
        rates = [point.bpp for point in self.thumbnail]
        values = [point.metrics["psnr"] for point in self.thumbnail]
        if not rates[0] <= bpp <= rates[-1]:
            return None
        upper = next(i for i, rate in enumerate(rates) if rate >= bpp)
        if upper == 0 or rates[upper] == bpp:
            return values[upper]
        r0, r1 = math.log2(rates[upper - 1]), math.log2(rates[upper])
        t = (math.log2(bpp) - r0) / (r1 - r0)
        return values[upper - 1] + t * (values[upper] - values[upper - 1])

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


def baseline_curves(
    images, *, factors: Sequence[int] | None = None, upsample: str = "bilinear"
) -> BaselineCurves:
    """Mean colour and thumbnail (at ``factors``, default 2, 4, … below the images' shorter side) on
    ``images`` (a list of (3, H, W) in [0, 1] or a batch), PSNR per image; see the module docstring."""
    if factors is None:
        side = min(min(image.shape[-2:]) for image in images)
        factors = [2**k for k in range(1, side.bit_length()) if 2**k < side] or [2]
    if isinstance(factors, str) or not isinstance(factors, Sequence) or not factors:
        raise TypeError(f"factors must be a non-empty list of ints; got {factors!r}")
    for factor in factors:
        check_positive_int(factor, "factors[i]")
    mean_colour = evaluate(build("mean_colour"), images, metrics=("psnr",))
    thumbnail = [
        evaluate(build("thumbnail", factor=f, upsample=upsample), images, metrics=("psnr",))
        for f in sorted(set(factors), reverse=True)
    ]
    return BaselineCurves(mean_colour, sorted(thumbnail, key=lambda point: point.bpp))


__all__ = ["CURVE_METRICS", "BaselineCurves", "baseline_curves"]
