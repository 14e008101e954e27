"""Every registered codec keeps the protocol: checked input, exact round-trip shapes, real files."""

import pytest
import torch

from laserlab import codecs
from laserlab.data.samples import load_source

NAMES = sorted(codecs.CODECS)


@pytest.fixture(scope="module")
def photo():
    return load_source("coffee", short_side=64)[:, :48, :60].contiguous()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (48, 60)])
def test_round_trip_shape_dtype_range_and_determinism(name, size, photo):
    codec = codecs.build(name)
    image = photo[:, : size[0], : size[1]]
    data = codec.encode(image)
    assert isinstance(data, bytes) and data and data == codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == torch.float32
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    assert torch.equal(decoded, codec.decode(bytearray(data)))


@pytest.mark.parametrize("name", NAMES)
def test_bpp_is_eight_bytes_per_pixel_of_the_file(name, photo):
    codec = codecs.build(name)
    images = [photo, photo[:, :31, :17]]
    point = codecs.evaluate(codec, images, metrics=("psnr",))
    sizes = [len(codec.encode(image)) for image in images]
    assert point.per_image["bytes"] == sizes
    assert point.per_image["bpp"] == [8 * sizes[0] / (48 * 60), 8 * sizes[1] / (31 * 17)]
    assert point.bpp == (point.per_image["bpp"][0] + point.per_image["bpp"][1]) / 2


@pytest.mark.parametrize("name", NAMES)
def test_bad_images_are_refused(name, photo):
    codec = codecs.build(name)
    nan = photo.clone()
    nan[0, 0, 0] = float("nan")
    cases = [
        (photo[None], ValueError, r"shape \(3, H, W\)"),
        (photo[:2], ValueError, r"shape \(3, H, W\)"),
        (photo[:, :0], ValueError, r"H, W >= 1"),
        ((photo * 255).to(torch.uint8), TypeError, "floating-point"),
        (photo.numpy(), TypeError, "torch.Tensor"),
        (nan, ValueError, "NaN"),
        (photo * 1.5, ValueError, r"values in \[0, 1\]"),
        (photo - 0.5, ValueError, r"values in \[0, 1\]"),
    ]
    for image, error, message in cases:
        with pytest.raises(error, match=message):
            codec.encode(image)


@pytest.mark.parametrize("name", NAMES)
def test_bad_data_is_refused(name):
    codec = codecs.build(name)
    with pytest.raises(TypeError, match="must be bytes"):
        codec.decode("not bytes")
    with pytest.raises(ValueError, match="empty"):
        codec.decode(b"")
    with pytest.raises(ValueError):
        codec.decode(bytes(range(256)) * 2)


@pytest.mark.parametrize("name", NAMES)
def test_settings_rebuild_the_same_codec(name, photo):
    codec = codecs.build(name)
    again = codecs.build(name, **codec.settings)
    assert again.label == codec.label and again.encode(photo) == codec.encode(photo)
    assert codec.label.startswith(f"{name}(")


def test_eight_bit_conversion_rounds_half_to_even_and_round_trips():
    image = torch.tensor([0.0, 0.5, 1.5, 2.5, 254.5, 255.0], dtype=torch.float64) / 255
    levels = codecs.image_to_uint8(image.reshape(1, 1, 6).expand(3, 1, 6))
    assert levels[0, :, 0].tolist() == [0, 0, 2, 2, 254, 255]
    exact = torch.arange(256, dtype=torch.float32).reshape(1, 16, 16).expand(3, 16, 16) / 255
    assert torch.equal(codecs.image_from_uint8(codecs.image_to_uint8(exact)), exact)
