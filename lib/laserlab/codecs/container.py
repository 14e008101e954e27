"""The laserlab file container: a small checked header around a codec's payload.

Standard formats (JPEG, WebP, …) carry their own headers; laserlab's own codecs (mean colour, thumbnail,
and the tokenizer and learned codecs built on this module) wrap their payload in this container, so a
decoder can say what is wrong with a file instead of decoding garbage.

Layout (integers little-endian; "varint" = unsigned LEB128, 7 bits per byte, low bits first)::

    offset  size  field
    0       2     magic b"LL"
    2       1     format version (1)
    3       1     codec kind (see KINDS: mean_colour 1, thumbnail 2, tokenizer 3, learned 4, …)
    4       4     model id: uint32 identifying the model and every setting the decoder needs
    8       1–5   image height (varint)
    .       1–5   image width (varint)
    .       1–5   payload length in bytes (varint)
    .       n     payload
    end−4   4     CRC32 (zlib.crc32) of every byte before it

Overhead: 15 bytes when height, width and payload length are all below 128; at most 19 bytes for sides
below 16 384 pixels and payloads below 2 MiB. :func:`overhead` gives the exact figure. At 32×32 pixels
each byte costs 0.0078 bpp, at 512×512 0.00003 bpp.

Checks on reading, in this order, each a ``ValueError`` naming the problem: empty data; wrong magic (not
a laserlab file, e.g. a JPEG); unsupported version; a header or payload cut short (truncated) or bytes
after the CRC; CRC mismatch (bit flips anywhere); another codec kind; another model id (a file for
another model or other settings); an image over 2^30 pixels (so no header makes a decoder allocate
without bound).

Model ids: :func:`model_id` hashes a description of everything decoding depends on (codec settings, a
checkpoint's weights and priors) to 32 bits with CRC32, so a decoder built differently rejects the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"LL"
VERSION = 1
# Codec kinds, one byte each; a new laserlab codec family adds its entry here (never reuse a number).
KINDS: dict[str, int] = {"mean_colour": 1, "thumbnail": 2, "tokenizer": 3, "learned": 4}
_FIXED = struct.Struct("<2sBBI")  # magic, version, kind, model id
_CRC_BYTES = 4
_MAX_VARINT_BYTES = 5
MAX_SIDE = 1 << 31  # image sides and payload lengths must stay below this
MAX_PIXELS = 1 << 30  # H·W limit, so a crafted header cannot make a decoder allocate without bound


@dataclass(frozen=True)
class Header:
    """What a container file says about its payload: codec ``kind``, ``model`` id, image ``height`` and
    ``width`` in pixels."""

    kind: str
    model: int
    height: int
    width: int


def model_id(*parts: str | bytes) -> int:
    """A 32-bit id (CRC32) of the given description parts, e.g. ``model_id("thumbnail", "factor=4")``.

    Parts are joined with a separator byte so ``("ab", "c")`` and ``("a", "bc")`` differ.
    """
    crc = 0
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        if not isinstance(part, bytes):
            raise TypeError(f"model_id parts must be str or bytes; got {type(part).__name__}")
        crc = zlib.crc32(part + b"\x00", crc)
    return crc


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, offset: int, field: str) -> tuple[int, int]:
    """(value, offset after it); a field running past the end or over 5 bytes is a ``ValueError``."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if offset + i >= len(data):
            raise ValueError(
                f"truncated laserlab file: it ends inside the header ({field} field, "
                f"{len(data)} bytes in all)"
            )
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, offset + i + 1
    raise ValueError(f"corrupt laserlab header: the {field} field is longer than {_MAX_VARINT_BYTES} bytes")


def overhead(height: int, width: int, payload_length: int) -> int:
    """Container bytes around a payload of ``payload_length`` bytes for an image of that size."""
    return _FIXED.size + sum(len(_varint(v)) for v in (height, width, payload_length)) + _CRC_BYTES


def _check_pixels(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise ValueError(f"image of {height}×{width} pixels exceeds the container's limit of 2**30 pixels")


def _kind_name(code: int) -> str | None:
    return next((name for name, value in KINDS.items() if value == code), None)


def pack(header: Header, payload: bytes) -> bytes:
    """The container file holding ``payload`` under ``header``."""
    if header.kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}; got {header.kind!r}")
    if not 0 <= header.model < 1 << 32:
        raise ValueError(f"model id must be an unsigned 32-bit int; got {header.model!r}")
    for name, value in (("height", header.height), ("width", header.width)):
        if not 1 <= value < MAX_SIDE:
            raise ValueError(f"{name} must be in [1, 2**31); got {value!r}")
    _check_pixels(header.height, header.width)
    if not isinstance(payload, bytes):
        raise TypeError(f"payload must be bytes; got {type(payload).__name__}")
    if len(payload) >= MAX_SIDE:
        raise ValueError(f"payload must be shorter than 2**31 bytes; got {len(payload)}")
    body = b"".join(
        [
            _FIXED.pack(MAGIC, VERSION, KINDS[header.kind], header.model),
            _varint(header.height),
            _varint(header.width),
            _varint(len(payload)),
            payload,
        ]
    )
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes, *, kind: str, model: int, decoder: str) -> tuple[Header, bytes]:
    """(header, payload) of a container file, checked to be whole and to belong to this decoder.

    ``kind`` and ``model`` are what the decoder expects; ``decoder`` is its label for messages (e.g.
    ``"thumbnail(factor=4, upsample='bilinear')"``). Every problem is a ``ValueError`` naming it.
    """
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError(f"empty file (0 bytes) given to {decoder}; a laserlab file starts with {MAGIC!r}")
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        raise ValueError(
            f"truncated laserlab file: {len(data)} byte(s), shorter than the magic bytes {MAGIC!r}"
        )
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError(
            f"not a laserlab codec file: it starts with {data[:4]!r}, not the magic bytes {MAGIC!r} "
            f"(decoder {decoder}; a file of a standard format needs that format's codec)"
        )
    if len(data) < _FIXED.size:
        raise ValueError(
            f"truncated laserlab file: {len(data)} bytes is shorter than the {_FIXED.size}-byte fixed header"
        )
    _, version, kind_code, file_model = _FIXED.unpack_from(data)
    if version != VERSION:
        raise ValueError(
            f"unsupported laserlab file format version {version} (this laserlab reads version {VERSION}); "
            "the file is newer than this library or corrupt"
        )
    offset = _FIXED.size
    height, offset = _read_varint(data, offset, "height")
    width, offset = _read_varint(data, offset, "width")
    length, offset = _read_varint(data, offset, "payload length")
    expected = offset + length + _CRC_BYTES
    if len(data) < expected:
        raise ValueError(
            f"truncated laserlab file: the header announces a {length}-byte payload and a 4-byte CRC "
            f"({expected} bytes in all) but the file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise ValueError(
            f"corrupt laserlab file: {len(data) - expected} unexpected bytes after the CRC "
            f"(header announces {expected} bytes, the file has {len(data)})"
        )
    (stored,) = struct.unpack_from("<I", data, offset + length)
    computed = zlib.crc32(data[: offset + length])
    if stored != computed:
        raise ValueError(
            f"corrupt laserlab file: CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x}); "
            "the file was damaged or altered"
        )
    file_kind = _kind_name(kind_code)
    if file_kind is None:
        raise ValueError(f"laserlab file of unknown codec kind {kind_code} (known: {KINDS})")
    if file_kind != kind:
        raise ValueError(f"this is a {file_kind!r} file; decoder {decoder} reads {kind!r} files")
    if file_model != model:
        raise ValueError(
            f"this {file_kind!r} file was written by another model or with other settings (model id "
            f"{file_model:#010x}); decoder {decoder} has model id {model:#010x}"
        )
    if height < 1 or width < 1:
        raise ValueError(f"corrupt laserlab header: image size {height}×{width}")
    _check_pixels(height, width)
    return Header(file_kind, file_model, height, width), data[offset : offset + length]
