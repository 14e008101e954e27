import io

import numpy as np
import pytest
import torch
from PIL import Image

from laserlab import codecs
from laserlab.codecs.standard import jpeg2000_ratio
from laserlab.data.samples import load_source

FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "jpeg2000": "JPEG2000", "avif": "AVIF"}


@pytest.fixture(scope="module")
def photo():
    return load_source("astronaut", short_side=128)


@pytest.mark.parametrize("name", FORMATS)
def test_files_are_real_files_pillow_opens(name, photo, tmp_path):
    codec = codecs.build(name, quality=40)
    path = tmp_path / f"image.{name}"
    path.write_bytes(codec.encode(photo))
    with Image.open(path) as picture:
        assert picture.format == FORMATS[name] and picture.mode == "RGB" and picture.size == (128, 128)
        pixels = np.asarray(picture)
    assert torch.equal(codec.decode(path.read_bytes()), codecs.image_from_uint8(pixels))


@pytest.mark.parametrize("name", FORMATS)
def test_lossy_and_quality_orders_the_rate(name, photo):
    sizes = [len(codecs.build(name, quality=q).encode(photo)) for q in (10, 50, 90)]
    assert sizes[0] < sizes[1] < sizes[2]
    exact = codecs.image_from_uint8(codecs.image_to_uint8(photo))
    decoded = codecs.build(name, quality=90).decode(codecs.build(name, quality=90).encode(photo))
    assert not torch.equal(decoded, exact)  # lossless modes are off


def test_webp_is_written_lossy():
    buffer = io.BytesIO(codecs.build("webp").encode(load_source("chelsea", short_side=32)))
    assert buffer.getvalue()[12:16] == b"VP8 "  # the lossy bitstream chunk, not VP8L


def test_jpeg2000_quality_maps_to_a_target_rate(photo):
    assert jpeg2000_ratio(50) == 32 and jpeg2000_ratio(70) == 16 and jpeg2000_ratio(30) == 64
    codec = codecs.build("jpeg2000", quality=50)
    data = codec.encode(photo)
    assert data[:4] == b"\xff\x4f\xff\x51"  # a bare J2K codestream
    target_bytes = 128 * 128 * 3 / 32
    assert 0.8 * target_bytes < len(data) <= target_bytes + 200


@pytest.mark.parametrize("name", FORMATS)
def test_truncated_foreign_and_garbage_files(name, photo):
    codec = codecs.build(name)
    data = codec.encode(photo)
    with pytest.raises(ValueError, match=r"truncated or corrupt|is not a"):
        codec.decode(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"is not a|truncated"):
        codec.decode(data[:10])
    other = "webp" if name != "webp" else "jpeg"
    with pytest.raises(ValueError, match=f"not {FORMATS[name]}; decode it with its codec"):
        codec.decode(codecs.build(other).encode(photo))
    with pytest.raises(ValueError, match="not a laserlab codec file"):
        codecs.build("thumbnail").decode(data)


def test_quality_is_checked():
    with pytest.raises(ValueError, match=r"quality must be an int in \[0, 100\]"):
        codecs.build("jpeg", quality=101)
    with pytest.raises(TypeError, match="quality"):
        codecs.build("webp", quality=50.0)
