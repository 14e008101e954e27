"""Mean colour and thumbnail on a model's test images, and the thumbnail's PSNR at the model's rate."""

import math

import pytest
import torch

from laserlab import codecs, data
from laserlab.perceptual import psnr


@pytest.fixture(scope="module")
def images():
    test = data.dataset("samples", split="test", image_size=32, seed=0, crops_per_image=3)
    return [test[i] for i in range(len(test))]


@pytest.fixture(scope="module")
def curves(images):
    return codecs.baseline_curves(images)


def test_points_are_real_files_of_both_baselines(curves, images):
    assert curves.factors == [16, 8, 4, 2]  # ascending rate: every power of two below the side, f > 1
    rates = [point.bpp for point in curves.thumbnail]
    assert rates == sorted(rates)
    thumbnail = codecs.build("thumbnail", factor=4)
    point = curves.thumbnail[curves.factors.index(4)]
    assert point.bpp == pytest.approx(sum(8 * len(thumbnail.encode(x)) / 32**2 for x in images) / len(images))
    mean = codecs.build("mean_colour")
    expected = [float(psnr(mean.decode(mean.encode(x))[None], x[None])[0]) for x in images]
    assert curves.mean_colour.metrics["psnr"] == pytest.approx(sum(expected) / len(expected))
    assert curves.mean_colour.bpp == 8 * 18 / 32**2


def test_thumbnail_psnr_at_a_rate_is_linear_in_log_rate_between_neighbours(curves):
    (r0, v0), (r1, v1) = curves.curve("thumbnail")[1:3]
    assert curves.thumbnail_psnr_at(r0) == v0 and curves.thumbnail_psnr_at(r1) == v1
    middle = math.sqrt(r0 * r1)  # halfway in log-rate
    assert curves.thumbnail_psnr_at(middle) == pytest.approx((v0 + v1) / 2)
    quarter = 2 ** (0.75 * math.log2(r0) + 0.25 * math.log2(r1))
    assert curves.thumbnail_psnr_at(quarter) == pytest.approx(0.75 * v0 + 0.25 * v1)
    lowest, highest = curves.thumbnail[0].bpp, curves.thumbnail[-1].bpp
    assert (
        curves.thumbnail_psnr_at(lowest * 0.99) is None and curves.thumbnail_psnr_at(highest * 1.01) is None
    )
    with pytest.raises(ValueError, match="bpp"):
        curves.thumbnail_psnr_at(0.0)
    at = curves.at_rate(middle)
    assert at["thumbnail_psnr_db"] == pytest.approx((v0 + v1) / 2)
    assert at["mean_colour_psnr_db"] == curves.mean_colour.metrics["psnr"] and at["bpp"] == middle


def test_mse_curve_is_the_mse_over_all_pixels(curves, images):
    thumbnail = codecs.build("thumbnail", factor=8)
    errors = torch.stack([(thumbnail.decode(thumbnail.encode(x)) - x).square().mean() for x in images])
    _, mse = curves.curve("thumbnail", "mse")[curves.factors.index(8)]
    assert mse == pytest.approx(float(errors.mean()), rel=1e-5)
    assert set(curves.curves()) == {"mean colour", "thumbnail (f = 2, 4, 8, 16)"}
    with pytest.raises(ValueError, match="metric must be one of"):
        curves.curve("thumbnail", "ssim")


def test_verdict_is_generated_from_the_numbers(curves):
    rate = curves.thumbnail[2].bpp
    thumb = curves.thumbnail_psnr_at(rate)
    low = curves.verdict("VQ-VAE", rate, thumb - 1.0)
    assert "VQ-VAE" in low and "does NOT beat the thumbnail at its rate" in low and "1.00 dB worse" in low
    high = curves.verdict("DL-VAE", rate, thumb + 0.5)
    assert "beats the thumbnail at its rate" in high and "NOT beat the thumbnail" not in high
    below_mean = curves.verdict("M", rate, curves.mean_colour.metrics["psnr"] - 2)
    assert "does NOT beat the mean colour" in below_mean
    outside = curves.verdict("M", curves.thumbnail[-1].bpp * 2, 40.0)
    assert "outside the thumbnail curve" in outside
    summary = curves.as_dict()
    assert summary["thumbnail"][0]["factor"] == 16
    assert summary["thumbnail"][0]["mse"] == curves.curve("thumbnail", "mse")[0][1]
    assert summary["mean_colour"]["psnr_db"] == curves.mean_colour.metrics["psnr"]


def test_factors_are_checked(images):
    with pytest.raises(TypeError, match="factors"):
        codecs.baseline_curves(images, factors=4)
    with pytest.raises(ValueError, match="factors"):
        codecs.baseline_curves(images, factors=[0])
    assert codecs.baseline_curves(images[:1], factors=[4, 2]).factors == [4, 2]
    # the images are checked before the default factors are read off their sizes
    with pytest.raises(TypeError, match="images"):
        codecs.baseline_curves("abc")
    with pytest.raises(TypeError, match=r"images\[0\] must be a torch.Tensor"):
        codecs.baseline_curves([1, 2])
