import struct
import zlib

import pytest

from laserlab.codecs import container
from laserlab.codecs.container import Header, model_id, overhead, pack, unpack

MODEL = model_id("thumbnail", "factor=4")


def _file(height=32, width=32, payload=b"\x01\x02\x03"):
    return pack(Header("thumbnail", MODEL, height, width), payload)


def _unpack(data, kind="thumbnail", model=MODEL):
    return unpack(data, kind=kind, model=model, decoder="test decoder")


def test_layout_and_round_trip():
    data = _file(height=5, width=300, payload=b"abc")
    assert data[:2] == b"LL" and data[2] == container.VERSION and data[3] == container.KINDS["thumbnail"]
    assert struct.unpack_from("<I", data, 4)[0] == MODEL
    assert data[8:11] == bytes([5, 0xAC, 0x02])  # height 5; width 300 = 0b10_0101100 as LEB128
    assert data[11] == 3 and data[12:15] == b"abc"
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])
    header, payload = _unpack(data)
    assert header == Header("thumbnail", MODEL, 5, 300) and payload == b"abc"


@pytest.mark.parametrize(
    ("height", "width", "length", "size"),
    [
        (1, 1, 0, 15),
        (127, 127, 127, 15),
        (128, 32, 5, 16),
        (512, 768, 20000, 19),
        (16383, 16383, 2**21 - 1, 19),
    ],
)
def test_overhead_is_the_documented_size(height, width, length, size):
    assert overhead(height, width, length) == size
    if length < 30000:
        assert len(_file(height, width, bytes(length))) == size + length


def test_empty_payload_round_trips():
    assert _unpack(_file(payload=b""))[1] == b""


def test_empty_file():
    with pytest.raises(ValueError, match="empty file"):
        _unpack(b"")


def test_every_truncation_is_a_clear_error():
    data = _file()
    for cut in range(1, len(data)):
        with pytest.raises(ValueError, match=r"truncated|corrupt"):
            _unpack(data[:cut])


def test_every_bit_flip_is_detected():
    data = _file()
    for position in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[position // 8] ^= 1 << (position % 8)
        with pytest.raises(ValueError, match="laserlab"):
            _unpack(bytes(flipped))


def test_bit_flip_in_the_payload_names_the_crc():
    flipped = bytearray(_file())
    flipped[-5] ^= 0x10
    with pytest.raises(ValueError, match="CRC32 mismatch"):
        _unpack(bytes(flipped))


def test_trailing_bytes():
    with pytest.raises(ValueError, match="unexpected bytes after the CRC"):
        _unpack(_file() + b"\x00")


def test_foreign_file_is_not_laserlab():
    jpeg_start = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    with pytest.raises(ValueError, match="not a laserlab codec file"):
        _unpack(jpeg_start)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_future_version_and_unknown_kind():
    data = bytearray(_file()[:-4])
    data[2] = 2
    with pytest.raises(ValueError, match="unsupported laserlab file format version 2"):
        _unpack(_with_crc(bytes(data)))
    data[2], data[3] = container.VERSION, 200
    with pytest.raises(ValueError, match="unknown codec kind 200"):
        _unpack(_with_crc(bytes(data)))


def test_another_kind_or_model_is_rejected_by_name():
    data = _file()
    with pytest.raises(
        ValueError, match="this is a 'thumbnail' file; decoder test decoder reads 'mean_colour'"
    ):
        _unpack(data, kind="mean_colour")
    with pytest.raises(ValueError, match="another model or with other settings"):
        _unpack(data, model=model_id("thumbnail", "factor=8"))


def test_model_id_separates_parts_and_is_stable():
    assert model_id("ab", "c") != model_id("a", "bc")
    assert model_id("x", b"\x00\x01") == model_id("x", b"\x00\x01")
    assert 0 <= model_id("anything") < 2**32
    with pytest.raises(TypeError, match="str or bytes"):
        model_id(3)


def test_pack_validates_its_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        pack(Header("jpeg", 0, 1, 1), b"")
    with pytest.raises(ValueError, match="height"):
        pack(Header("thumbnail", 0, 0, 1), b"")
    with pytest.raises(ValueError, match="model id"):
        pack(Header("thumbnail", -1, 1, 1), b"")
    with pytest.raises(TypeError, match="payload must be bytes"):
        pack(Header("thumbnail", 0, 1, 1), "abc")


def test_absurd_image_sizes_are_refused_before_decoding():
    with pytest.raises(ValueError, match="exceeds the container's limit"):
        pack(Header("mean_colour", 0, 2**20, 2**20), b"abc")
    body = bytearray(pack(Header("mean_colour", 0, 1, 1), b"abc")[:-4])
    crafted = (
        bytes(body[:8]) + bytes([0x80, 0x80, 0x40, 0x80, 0x80, 0x40]) + bytes(body[10:])
    )  # 2**20 × 2**20
    with pytest.raises(ValueError, match="exceeds the container's limit"):
        unpack(_with_crc(crafted), kind="mean_colour", model=0, decoder="test")
