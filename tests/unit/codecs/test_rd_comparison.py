"""Comparing R-D curves: values at a rate, the point nearest a rate, BD-rate tables that say why an entry
is missing (oracle: a curve at the anchor's rates × 0.8 is −20 %)."""

import math

import pytest

from laserlab import codecs
from laserlab.codecs import BDEntry, RDPoint, bd_table, nearest_rate, value_at_rate

ANCHOR = [(0.25, 28.1), (0.5, 31.0), (1.0, 34.2), (2.0, 37.9), (3.1, 40.0)]


def _point(bpp, psnr, **more):
    metrics = {"psnr": psnr, **more}
    per_image = {"bytes": [bpp * 128], "bpp": [bpp], **{k: [v] for k, v in metrics.items()}}
    return RDPoint("test", {"bpp": bpp}, bpp, metrics, per_image)


def _curve(pairs, **scale):
    factor, shift = scale.get("rate", 1.0), scale.get("psnr", 0.0)
    return [_point(factor * r, d + shift) for r, d in pairs]


def test_value_at_rate_is_linear_in_log_rate_and_never_extrapolated():
    curve = _curve(ANCHOR)[::-1]  # any order
    assert value_at_rate(curve, 0.5) == 31.0 and value_at_rate(curve, 0.25) == 28.1
    assert value_at_rate(curve, math.sqrt(0.5 * 1.0)) == pytest.approx((31.0 + 34.2) / 2)
    quarter = 2 ** (0.75 * math.log2(1.0) + 0.25 * math.log2(2.0))
    assert value_at_rate(curve, quarter) == pytest.approx(0.75 * 34.2 + 0.25 * 37.9)
    assert value_at_rate(curve, 0.2499) is None and value_at_rate(curve, 3.2) is None
    lpips = [_point(r, d, lpips=1 / d) for r, d in ANCHOR]
    assert value_at_rate(lpips, 1.0, metric="lpips") == pytest.approx(1 / 34.2)
    with pytest.raises(ValueError, match="bpp must be"):
        value_at_rate(curve, 0.0)
    with pytest.raises(ValueError, match="distinct rates"):
        value_at_rate([_point(0.5, 30.0), _point(0.5, 31.0)], 0.5)
    with pytest.raises(TypeError, match="points must be a non-empty list of RDPoint"):
        value_at_rate(curve[0], 0.5)
    with pytest.raises(ValueError, match="metric must be one of"):
        value_at_rate(curve, 0.5, metric="ssim")


def test_nearest_rate_is_nearest_in_log_rate():
    curve = _curve(ANCHOR)
    assert nearest_rate(curve, 0.5) == 1
    # between 0.5 and 1.0 the boundary is their geometric mean 0.707, not the arithmetic 0.75
    assert nearest_rate(curve, 0.70) == 1 and nearest_rate(curve, 0.72) == 2
    assert nearest_rate(curve, 100.0) == 4 and nearest_rate(curve, 0.01) == 0
    with pytest.raises(ValueError, match="bpp must be"):
        nearest_rate(curve, -1.0)


def test_bd_table_oracle_and_the_reasons_for_missing_entries():
    curves = {
        "anchor": _curve(ANCHOR),
        "cheaper": _curve(ANCHOR, rate=0.8),
        "three points": _curve(ANCHOR[:3]),
        "far": _curve(ANCHOR, psnr=20.0),
        "partly": _curve(ANCHOR, psnr=7.0),
        "lossless": [*_curve(ANCHOR[:4]), _point(9.0, math.inf)],
    }
    entries = bd_table(curves, ["anchor"])
    assert [e.test for e in entries] == list(curves) and {e.anchor for e in entries} == {"anchor"}
    by = {e.test: e for e in entries}
    assert by["anchor"].value == pytest.approx(0.0, abs=1e-9) and by["anchor"].overlap == 1.0
    assert by["cheaper"].value == pytest.approx(-20.0, abs=1e-6) and by["cheaper"].reason is None
    assert by["cheaper"].text() == "-20.0 %"
    assert by["three points"].value is None and "3 point(s)" in by["three points"].reason
    assert by["far"].value is None and "do not overlap" in by["far"].reason and by["far"].overlap == 0
    # 40.0 - 35.1 = 4.9 dB shared of 47.0 - 28.1 = 18.9 dB: 26 %
    assert by["partly"].value is None and by["partly"].overlap == pytest.approx(4.9 / 18.9)
    assert "26 % of their union, below 75 %" in by["partly"].reason and by["partly"].text() == "n/a"
    assert "non-finite psnr" in by["lossless"].reason
    relaxed = {e.test: e for e in bd_table(curves, ["anchor"], min_overlap=0.2)}
    assert relaxed["partly"].value is not None and math.isfinite(relaxed["partly"].value)
    both = bd_table({k: curves[k] for k in ("anchor", "cheaper")}, ["anchor", "cheaper"])
    assert [(e.test, e.anchor) for e in both] == [
        ("anchor", "anchor"),
        ("cheaper", "anchor"),
        ("anchor", "cheaper"),
        ("cheaper", "cheaper"),
    ]
    assert both[2].value == pytest.approx(25.0, abs=1e-6)
    assert both[1].as_dict() == {
        "test": "cheaper",
        "anchor": "anchor",
        "metric": "psnr",
        "bd_rate_percent": both[1].value,
        "reason": None,
        "overlap": 1.0,
    }
    assert isinstance(both[0], BDEntry)


def test_bd_table_for_a_lower_is_better_metric():
    curves = {
        "anchor": [_point(r, d, lpips=1 / d) for r, d in ANCHOR],
        "cheaper": [_point(0.8 * r, d, lpips=1 / d) for r, d in ANCHOR],
    }
    (_, entry) = bd_table(curves, ["anchor"], metric="lpips")
    assert entry.metric == "lpips" and entry.value == pytest.approx(-20.0, abs=1e-6)


def test_bd_table_checks_its_arguments():
    curves = {"anchor": _curve(ANCHOR)}
    with pytest.raises(TypeError, match="curves must be a non-empty dict"):
        bd_table([], ["anchor"])
    with pytest.raises(TypeError, match="anchors must be a non-empty list"):
        bd_table(curves, "anchor")
    with pytest.raises(ValueError, match="anchor must be one of"):
        bd_table(curves, ["jpeg"])
    with pytest.raises(ValueError, match="has no 'ms_ssim'"):
        bd_table(curves, ["anchor"], metric="ms_ssim")
    with pytest.raises(ValueError, match="method must be one of"):
        bd_table(curves, ["anchor"], method="linear")
    with pytest.raises(TypeError, match=r"curves\['x'\]\[0\] must be an RDPoint"):
        bd_table({**curves, "x": [1.0]}, ["anchor"])


def test_bd_table_on_real_codecs_agrees_with_bd_rate():
    from laserlab.data.samples import load_source

    photo = load_source("coffee", short_side=128)
    images = [photo[:, :, :128].contiguous(), photo[:, :, -128:].contiguous()]
    qualities = [20, 40, 60, 80]
    curves = {name: codecs.rd_curve(name, images, qualities, metrics=("psnr",)) for name in ("jpeg", "webp")}
    entry = bd_table(curves, ["jpeg"], min_overlap=0.0)[1]
    assert entry.value == pytest.approx(codecs.bd_rate(curves["jpeg"], curves["webp"], min_overlap=0.0))


def test_thumbnail_factors_are_the_powers_of_two_below_the_shorter_side():
    import torch

    assert codecs.thumbnail_factors([torch.zeros(3, 128, 200)]) == [64, 32, 16, 8, 4, 2]
    assert codecs.thumbnail_factors([torch.zeros(3, 64, 64), torch.zeros(3, 33, 90)]) == [32, 16, 8, 4, 2]
    assert codecs.thumbnail_factors(torch.zeros(2, 3, 2, 2)) == [2]
