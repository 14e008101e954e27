import math

import pytest
import torch

from laserlab import codecs
from laserlab.codecs import container
from laserlab.codecs.baselines import area_downsample, upsample


def _image(height, width, seed=0):
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))


def test_mean_colour_is_the_rounded_mean_in_18_bytes():
    image = _image(20, 30)
    codec = codecs.build("mean_colour")
    data = codec.encode(image)
    assert len(data) == 3 + container.overhead(20, 30, 3) == 18
    expected = torch.round(image.double().mean(dim=(1, 2)) * 255) / 255
    decoded = codec.decode(data)
    assert decoded.shape == (3, 20, 30) and decoded.dtype == torch.float32
    torch.testing.assert_close(decoded, expected.float()[:, None, None].expand(3, 20, 30), atol=0, rtol=0)


def _area_oracle(image, factor):
    _, height, width = image.shape
    rows, cols = math.ceil(height / factor), math.ceil(width / factor)
    out = torch.empty(3, rows, cols, dtype=image.dtype)
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = image[:, i * factor : (i + 1) * factor, j * factor : (j + 1) * factor].mean(
                dim=(1, 2)
            )
    return out


@pytest.mark.parametrize(("height", "width", "factor"), [(16, 16, 4), (17, 30, 4), (5, 3, 8), (9, 9, 1)])
def test_area_downsample_averages_the_pixels_each_cell_covers(height, width, factor):
    image = _image(height, width).double()
    torch.testing.assert_close(
        area_downsample(image, factor), _area_oracle(image, factor), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("height", "width", "factor"), [(32, 32, 4), (33, 47, 4), (7, 5, 8), (1, 1, 2)])
def test_thumbnail_round_trip_and_size(height, width, factor, mode):
    image = _image(height, width)
    codec = codecs.build("thumbnail", factor=factor, upsample=mode)
    data = codec.encode(image)
    rows, cols = math.ceil(height / factor), math.ceil(width / factor)
    assert len(data) == 3 * rows * cols + container.overhead(height, width, 3 * rows * cols)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == torch.float32
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    # the stored thumbnail is the 8-bit area mean
    stored = codecs.image_from_uint8(codecs.image_to_uint8(area_downsample(image.double(), factor)))
    expected = upsample(stored, factor, (height, width), mode=mode)
    torch.testing.assert_close(decoded, expected, atol=0, rtol=0)


def test_constant_image_survives_any_factor_and_size():
    image = torch.full((3, 13, 22), 100 / 255)
    for factor in (1, 3, 4, 16):
        decoded = codecs.build("thumbnail", factor=factor, upsample="bicubic").decode(
            codecs.build("thumbnail", factor=factor, upsample="bicubic").encode(image)
        )
        torch.testing.assert_close(decoded, image, atol=1e-6, rtol=0)


def test_factor_one_is_lossless_on_8_bit_images():
    image = torch.randint(0, 256, (3, 9, 11), generator=torch.Generator().manual_seed(1)).float() / 255
    codec = codecs.build("thumbnail", factor=1)
    torch.testing.assert_close(codec.decode(codec.encode(image)), image, atol=0, rtol=0)


def test_a_file_for_other_settings_or_another_codec_is_rejected():
    image = _image(16, 16)
    four = codecs.build("thumbnail", factor=4).encode(image)
    with pytest.raises(ValueError, match="other settings"):
        codecs.build("thumbnail", factor=8).decode(four)
    with pytest.raises(ValueError, match="other settings"):
        codecs.build("thumbnail", factor=4, upsample="bicubic").decode(four)
    with pytest.raises(ValueError, match="this is a 'thumbnail' file"):
        codecs.build("mean_colour").decode(four)
    with pytest.raises(ValueError, match="not a laserlab codec file"):
        codecs.build("thumbnail").decode(codecs.build("jpeg").encode(image))


def test_corrupt_baseline_files_raise():
    codec = codecs.build("thumbnail", factor=4)
    data = codec.encode(_image(16, 16))
    for bad, message in [
        (b"", "empty"),
        (data[:-1], "truncated"),
        (data[: len(data) // 2], "truncated"),
        (data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "CRC32"),
    ]:
        with pytest.raises(ValueError, match=message):
            codec.decode(bad)


def test_options_are_checked():
    with pytest.raises(ValueError, match="factor"):
        codecs.build("thumbnail", factor=0)
    with pytest.raises(TypeError, match="factor"):
        codecs.build("thumbnail", factor=2.0)
    with pytest.raises(ValueError, match="upsample must be one of"):
        codecs.build("thumbnail", upsample="nearest")
