import math
import random

import pytest
import torch

from laserlab import codecs
from laserlab.codecs import RDPoint, bd_psnr, bd_rate
from laserlab.data.samples import load_source
from laserlab.perceptual import LPIPS, backbones


@pytest.fixture(scope="module")
def crops():
    photo = load_source("chelsea", short_side=64)
    return [photo[:, :48, :48].contiguous(), photo[:, 8:60, 20:84].contiguous()]


def test_evaluate_on_sample_crops(crops):
    codec = codecs.build("webp", quality=50)
    point = codecs.evaluate(codec, crops, metrics=("psnr", "ms_ssim"))
    assert point.codec == "webp" and point.settings == {"quality": 50} and point.label == "webp(quality=50)"
    assert point.num_images == 2 and set(point.per_image) == {"bytes", "bpp", "psnr", "ms_ssim"}
    for name in ("psnr", "ms_ssim"):
        assert point.metrics[name] == pytest.approx(sum(point.per_image[name]) / 2, abs=1e-12)
    expected_psnr = codecs.evaluate(codec, crops[:1], metrics=("psnr",)).metrics["psnr"]
    decoded = codec.decode(codec.encode(crops[0]))
    assert expected_psnr == pytest.approx(
        -10 * math.log10(float((decoded - crops[0]).pow(2).mean())), abs=1e-4
    )
    assert 25 < point.metrics["psnr"] < 45 and 0.8 < point.metrics["ms_ssim"] < 1
    assert point.metric_settings == {
        "ms_ssim": "3 scale(s) (fewer: images are at most 160 px on their shorter side)"
    }
    assert point.value("bpp") == point.bpp and point.as_dict()["label"] == "webp(quality=50)"
    batch = codecs.evaluate(codec, torch.stack([crops[0], crops[0]]), metrics=("psnr",))
    assert batch.per_image["bytes"][0] == point.per_image["bytes"][0]


def test_evaluate_lpips_is_explicit_about_its_weights(crops, monkeypatch):
    module = LPIPS("squeeze", weights=None, lin="uniform")
    point = codecs.evaluate(codecs.build("jpeg", quality=20), crops, metrics=("lpips",), lpips=module)
    assert point.metrics["lpips"] > 0
    assert "NOT the published LPIPS" in point.metric_settings["lpips"]

    def unavailable(name):
        raise backbones.WeightsUnavailableError(f"no {name} weights here")

    monkeypatch.setattr(backbones, "resolve_imagenet_weights", unavailable)
    with pytest.raises(backbones.WeightsUnavailableError, match="no alexnet weights here"):
        codecs.evaluate(codecs.build("jpeg"), crops, metrics=("psnr", "lpips"))


def test_evaluate_checks_its_arguments(crops):
    codec = codecs.build("jpeg")
    with pytest.raises(TypeError, match="codec must be a Codec"):
        codecs.evaluate("jpeg", crops)
    with pytest.raises(ValueError, match="metric must be one of"):
        codecs.evaluate(codec, crops, metrics=("ssim",))
    with pytest.raises(TypeError, match="metrics must be a sequence"):
        codecs.evaluate(codec, crops, metrics="psnr")
    with pytest.raises(ValueError, match=r"images\[1\] must have values in \[0, 1\]"):
        codecs.evaluate(codec, [crops[0], crops[1] * 2], metrics=("psnr",))
    with pytest.raises(TypeError, match="non-empty list"):
        codecs.evaluate(codec, [], metrics=("psnr",))
    with pytest.raises(ValueError, match="at least 11×11"):
        codecs.evaluate(codec, [crops[0][:, :8, :8]], metrics=("ms_ssim",))


def test_rd_curve_from_a_name_or_a_codec(crops):
    curve = codecs.rd_curve("jpeg", crops, [10, 50, 90], metrics=("psnr",))
    assert [p.settings for p in curve] == [{"quality": q} for q in (10, 50, 90)]
    assert curve[0].bpp < curve[1].bpp < curve[2].bpp
    assert curve[0].metrics["psnr"] < curve[2].metrics["psnr"]
    base = codecs.build("thumbnail", upsample="bicubic")
    thumbs = codecs.rd_curve(base, crops, [{"factor": 8}, {"factor": 2}], metrics=("psnr",))
    assert [p.settings for p in thumbs] == [
        {"factor": 8, "upsample": "bicubic"},
        {"factor": 2, "upsample": "bicubic"},
    ]
    with pytest.raises(TypeError, match="unknown option"):
        codecs.rd_curve("mean_colour", crops, [50], metrics=("psnr",))
    with pytest.raises(TypeError, match="non-empty list"):
        codecs.rd_curve("jpeg", crops, {"quality": 5})


def _point(bpp, psnr, lpips=None):
    metrics = {"psnr": psnr} if lpips is None else {"psnr": psnr, "lpips": lpips}
    return RDPoint("test", {}, bpp, metrics, {"bytes": [], "bpp": [bpp], "psnr": [psnr]})


ANCHOR = [(0.25, 28.1), (0.5, 31.0), (1.0, 34.2), (2.0, 37.9), (3.1, 40.0)]


@pytest.mark.parametrize("method", ["akima", "pchip", "cubic"])
def test_bd_rate_oracle_rates_times_0_8_is_minus_20_percent(method):
    anchor = [_point(r, d) for r, d in ANCHOR]
    test = [_point(0.8 * r, d) for r, d in ANCHOR]
    assert bd_rate(anchor, test, method=method) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(anchor, anchor, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(test, anchor, method=method) == pytest.approx(25.0, abs=1e-6)
    shifted = [_point(r, d + 0.5) for r, d in ANCHOR]
    assert bd_psnr(anchor, shifted, method=method) == pytest.approx(0.5, abs=1e-9)


def test_bd_is_order_free_and_works_for_lower_is_better_metrics():
    anchor = [_point(r, d, lpips=1 / d) for r, d in ANCHOR]
    test = [_point(0.8 * r, d, lpips=1 / d) for r, d in ANCHOR]
    random.Random(0).shuffle(test)
    assert bd_rate(anchor, test) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(anchor, test, metric="lpips") == pytest.approx(-20.0, abs=1e-6)
    # curves may have different numbers of points (interpolated differently, so only close)
    assert bd_rate(anchor, sorted(test, key=lambda p: p.bpp)[:4]) == pytest.approx(-20.0, abs=2.0)


def test_bd_errors():
    anchor = [_point(r, d) for r, d in ANCHOR]
    with pytest.raises(ValueError, match="at least 4 points"):
        bd_rate(anchor, anchor[:3])
    far = [_point(r, d + 20) for r, d in ANCHOR]
    with pytest.raises(ValueError, match="psnr ranges do not overlap"):
        bd_rate(anchor, far)
    with pytest.raises(ValueError, match="bpp ranges do not overlap"):
        bd_psnr(anchor, [_point(100 * r, d) for r, d in ANCHOR])
    with pytest.raises(ValueError, match="finite values"):
        bd_rate(anchor, [*anchor[:4], _point(9.0, math.inf)])
    with pytest.raises(ValueError, match="same psnr"):
        bd_rate(anchor, [*anchor[:4], _point(9.0, 37.9)])
    with pytest.raises(ValueError, match="method must be one of"):
        bd_rate(anchor, anchor, method="linear")
    with pytest.raises(ValueError, match=r"this point has the values \['bpp', 'psnr'\]"):
        bd_rate(anchor, anchor, metric="ms_ssim")
    with pytest.raises(TypeError, match="list of RDPoint"):
        bd_rate(anchor, anchor[0])
    with pytest.warns(UserWarning, match="Insufficient curve overlap"):
        bd_rate(anchor, [_point(r, d + 7) for r, d in ANCHOR])


def test_bd_rate_between_real_curves_is_finite(crops):
    qualities = [20, 40, 60, 80]
    jpeg = codecs.rd_curve("jpeg", crops, qualities, metrics=("psnr",))
    webp = codecs.rd_curve("webp", crops, qualities, metrics=("psnr",))
    assert math.isfinite(bd_rate(jpeg, webp, min_overlap=0.0))
