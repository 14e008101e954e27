"""Image files → float RGB tensors (3, H, W) in [0, 1], exactly, whatever the file's mode and bit depth.

:func:`read_image` is the one way the library reads an image file (folder datasets, BAPPS);
:func:`image_from_pil` converts an image already opened by Pillow (torchvision datasets). Samples are
divided by the largest value their bit depth can hold — 1 for 1-bit, 255 for 8-bit, 65535 for 16-bit,
``maxval`` for PGM/PPM, 2^b − 1 for b-bit TIFF — never by an assumed 255:

===============================  =====================================================================
Pillow mode (what it opens)      how it is read
===============================  =====================================================================
``1``                            0 / 1
``L``, ``LA``, ``RGB``, ``RGBA``  ÷ 255; ``LA``/``RGBA`` composited on ``background``
``P``, ``PA``                    the palette's RGBA colours ÷ 255 (transparent entries composited)
``La``, ``RGBa`` (premultiplied)  ÷ 255, composited as premultiplied colour: c + (1 − α)·background
``I;16``, ``I;16B/L/N``          ÷ 65535 (16-bit grey PNG, TIFF, PGM)
``I``                            ÷ 65535 when the file's samples are 16-bit (PGM/PPM, 16-bit rawmodes);
                                 32-bit or signed integers have no [0, 1] scale and are not read
``F``                            float samples taken as they are; they must be finite and in [0, 1]
``CMYK``, ``YCbCr``, ``LAB``,    Pillow's conversion to RGB (``LAB`` through the CIE L*a*b* → sRGB
``HSV``                          transform; ``CMYK`` naive, without an ICC profile)
16-bit RGB / RGBA / grey+alpha   Pillow would keep only the high byte: PNG is decoded a second time
PNG (48/64/32-bit)               with the opposite byte order to recover the low byte (exact, by
                                 Pillow's own decoder); TIFF is read by ``tifffile``
TIFF deeper than 8 bits          ``tifffile`` (16/32-bit unsigned ÷ 2^b − 1, float as it is, min-is-white
                                 inverted); 16-bit grey and float grey min-is-black TIFF stay with Pillow
PGM/PPM with maxval ≠ 255        the raw samples ÷ maxval (Pillow would round them to 8 or 16 bits)
===============================  =====================================================================

Transparency (an alpha channel, a palette's transparent entries, or a PNG ``tRNS`` colour key, at the
file's own bit depth) is composited on ``background``, a grey level in [0, 1], default **1.0 (white)**:
out = α·colour + (1 − α)·background. The EXIF orientation tag (JPEG, PNG, WebP, TIFF) is applied, so the
tensor is upright as a viewer shows it (a value outside 1–8 is ignored, as Pillow does). Multi-frame
files (GIF, multi-page TIFF) give their first frame. Colour profiles (ICC) are not applied: stored RGB
values are taken as sRGB. Deeper-than-8-bit JPEG 2000 RGB and AVIF are decoded to 8 bits by Pillow
(correctly scaled, 8-bit precision). ``tifffile`` decodes uncompressed, Deflate and LZMA TIFFs itself;
a deep TIFF compressed with LZW, PackBits or JPEG also needs the ``imagecodecs`` package (without it,
the reason says so).

A file that cannot be read this way — not an image, truncated, signed or 32-bit integers, floats outside
[0, 1], 16-bit samples in a format with no exact reader here — raises :class:`UnreadableImageError`
(a ``ValueError``) with the reason; it is never returned mis-scaled.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..checks import check_float_tensor, check_number, check_positive_int

DEFAULT_BACKGROUND = 1.0

# What a decoder or a damaged file can raise; anything else is a bug here and propagates.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Pillow modes with 8-bit samples; 16-bit PNG rawmodes (high byte) → the rawmode that keeps the low byte
_EIGHT_BIT_MODES = ("L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
_PNG_LOW_BYTE = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}


class UnreadableImageError(ValueError):
    """An image file (or Pillow image) that cannot be read correctly; ``source`` and ``reason`` say why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cannot read image {source}: {reason}")
        self.source = source
        self.reason = reason


class _Unsupported(Exception):
    """Raised inside the decoders with the reason; the public functions add the file name."""


@dataclass
class _Samples:
    """Decoded samples (H, W, C) float32 in [0, 1]: C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA."""

    values: np.ndarray
    premultiplied: bool = False


def read_image(path: str | os.PathLike, *, background: float = DEFAULT_BACKGROUND) -> torch.Tensor:
    """The image file at ``path`` as a float32 tensor (3, H, W) in [0, 1], upright (EXIF orientation applied).

    Every mode is scaled by its own bit depth (see the module docstring); transparency is composited on
    ``background`` (a grey level in [0, 1]; default 1.0, white). Raises :class:`UnreadableImageError`
    (a ``ValueError`` naming the file and the reason) for a file that cannot be read correctly.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}")
    check_number(background, "background", minimum=0.0, maximum=1.0)
    path = Path(path)
    try:
        samples, orientation = _decode_file(path)
    except _Unsupported as error:
        raise UnreadableImageError(str(path), str(error)) from None
    except _DECODE_ERRORS as error:
        raise UnreadableImageError(str(path), f"{type(error).__name__}: {error}") from error
    return _to_tensor(samples, background, orientation)


def image_from_pil(image: Image.Image, *, background: float = DEFAULT_BACKGROUND) -> torch.Tensor:
    """An image Pillow has opened, as a float32 tensor (3, H, W) in [0, 1], scaled as :func:`read_image` does.

    The EXIF orientation is *not* applied (a Pillow image in memory may already be transposed). Mode
    ``I`` (32-bit integers of unknown range) is refused; a file whose 16-bit samples Pillow reduces to 8
    bits cannot be recovered from the decoded image: read such files with :func:`read_image`.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image; got {type(image).__name__}")
    check_number(background, "background", minimum=0.0, maximum=1.0)
    source = getattr(image, "filename", "") or f"<in-memory {image.mode} image>"
    rawmode = _rawmode(image)
    try:
        if _truncated_by_pillow(image, rawmode):
            raise _Unsupported(
                f"its 16-bit samples ({rawmode}) would be reduced to 8 bits by Pillow; use read_image(path)"
            )
        samples = _decode_pil(image, rawmode=rawmode)
    except _Unsupported as error:
        raise UnreadableImageError(source, str(error)) from None
    except _DECODE_ERRORS as error:
        raise UnreadableImageError(source, f"{type(error).__name__}: {error}") from error
    return _to_tensor(samples, background, orientation=1)


def resize_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``image`` (3, H, W) so its shorter side is ``size`` (bicubic, antialiased, in float, clamped to
    [0, 1]) and cut the central ``size`` × ``size`` square; an image whose shorter side is already
    ``size`` is only cropped."""
    check_float_tensor(image, "image")
    check_positive_int(size, "size")
    if image.dim() != 3:
        raise ValueError(f"image must have shape (C, H, W); got {tuple(image.shape)}")
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_height, new_width = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_height, new_width) != (height, width):
        image = torch.nn.functional.interpolate(
            image[None], size=(new_height, new_width), mode="bicubic", antialias=True, align_corners=False
        )[0].clamp_(0.0, 1.0)  # bicubic overshoots at edges
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return image[:, top : top + size, left : left + size].contiguous()


# --------------------------------------------------------------------------------------------------
# Files


def _decode_file(path: Path) -> tuple[_Samples, int]:
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        if _is_tiff(path):  # e.g. float RGB TIFF, which Pillow does not open
            return _read_tiff(path)
        if path.stat().st_size == 0:
            raise _Unsupported("empty file (0 bytes)") from None
        raise
    with image:
        rawmode = _rawmode(image)
        if image.format == "TIFF" and not _pillow_reads_tiff_exactly(image):
            return _read_tiff(path)
        if image.format == "PNG" and rawmode in (*_PNG_LOW_BYTE, "LA;16B"):
            samples = _read_deep_png(path, image, rawmode)
        elif _is_pnm_with_maxval(image):
            samples = _read_pnm(path, image)
        elif rawmode == "RGBa":  # premultiplied TIFF: Pillow would un-premultiply in 8 bits (lossy)
            values = _decode_with_rawmode(image, "RGBA")
            samples = _Samples(values.astype(np.float32) / 255, premultiplied=True)
        else:
            if _truncated_by_pillow(image, rawmode):
                raise _Unsupported(
                    f"{image.format} file with 16-bit samples (rawmode {rawmode}): "
                    "Pillow would reduce them to 8 bits and there is no exact reader for this format here"
                )
            image.load()
            samples = _decode_pil(image, rawmode=rawmode)
        return samples, _exif_orientation(image)


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(4) in _TIFF_MAGIC


def _rawmode(image: Image.Image) -> str | None:
    """The rawmode of the first pending decoder tile (how the file stores samples), before ``load``."""
    if not getattr(image, "tile", None):
        return None
    args = image.tile[0].args
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _truncated_by_pillow(image: Image.Image, rawmode: str | None) -> bool:
    """Whether Pillow's pending decode keeps only the high bits of deeper-than-8-bit samples."""
    tiles = getattr(image, "tile", None)  # only images opened from a file have decoder tiles
    if tiles and tiles[0].codec_name == "SGI16":  # 16-bit SGI: rawmode "RGB", decoder truncates
        return image.mode in _EIGHT_BIT_MODES
    return rawmode is not None and _drops_low_bits(image.mode, rawmode)


def _drops_low_bits(mode: str, rawmode: str) -> bool:
    """Whether Pillow unpacks samples stored with more than 8 bits ("RGB;16B") into an 8-bit mode."""
    if mode not in _EIGHT_BIT_MODES or ";" not in rawmode:
        return False
    bits = _stored_bits_per_sample(mode, rawmode)
    return bits is not None and bits > 8


@functools.cache
def _stored_bits_per_sample(mode: str, rawmode: str) -> float | None:
    """Bits per sample of ``rawmode``: the bytes one pixel needs (the smallest buffer Pillow unpacks)
    over its samples ("RGB;16" is 5-6-5 in 2 bytes, "RGB;16B" three 16-bit samples in 6); ``None`` for
    a rawmode that is not a raw unpacker of ``mode``."""
    samples = len(rawmode.split(";")[0].replace("Cb", "B").replace("Cr", "R"))
    for size in range(1, 17):
        try:
            Image.frombytes(mode, (1, 1), bytes(size), "raw", rawmode)
        except ValueError:
            continue
        return 8 * size / samples
    return None


def _decode_with_rawmode(image: Image.Image, rawmode: str) -> np.ndarray:
    """Decode ``image`` (not yet loaded) with another rawmode of the same bits per pixel."""

    def swap(args):
        return rawmode if isinstance(args, str) else (rawmode, *args[1:])

    image.tile = [tile._replace(args=swap(tile.args)) for tile in image.tile]
    image.load()
    return np.asarray(image)


def _read_deep_png(path: Path, image: Image.Image, rawmode: str) -> _Samples:
    """16-bit RGB, RGBA or grey + alpha PNG, exactly.

    Pillow's 8-bit unpackers keep the high byte of each big-endian sample; decoding the same stream
    (same filters, same interlacing: the bits per pixel are unchanged) with the little-endian rawmode
    keeps the low byte instead, and grey + alpha decoded as raw ``RGBA`` bytes keeps all four.
    """
    if rawmode == "LA;16B":
        raw = _decode_with_rawmode(image, "RGBA").astype(np.uint16)
        values = np.stack([raw[..., 0] << 8 | raw[..., 1], raw[..., 2] << 8 | raw[..., 3]], axis=-1)
    else:
        high = _decode_with_rawmode(image, rawmode).astype(np.uint16)
        with Image.open(path) as again:
            low = _decode_with_rawmode(again, _PNG_LOW_BYTE[rawmode]).astype(np.uint16)
        values = high << 8 | low
        key = image.info.get("transparency")
        if rawmode == "RGB;16B" and key is not None:
            values = np.concatenate([values, _key_alpha(values, key, 65535)], axis=-1)
    return _Samples(values.astype(np.float32) / 65535)


def _is_pnm_with_maxval(image: Image.Image) -> bool:
    """A PGM/PPM whose maxval is not 255 (Pillow would round its samples to 8 or 16 bits)."""
    if not image.tile or image.tile[0].codec_name not in ("ppm", "ppm_plain"):
        return False
    return _pnm_maxval(image) not in (None, 255)


def _pnm_maxval(image: Image.Image) -> int | None:
    """PGM/PPM maxval from the decoder arguments (``None`` for bitmaps, which have none)."""
    args = image.tile[0].args
    return args[1] if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], int) else None


def _read_pnm(path: Path, image: Image.Image) -> _Samples:
    """PGM/PPM with a maxval other than 255: the raw samples divided by maxval (Pillow would round them)."""
    tile = image.tile[0]
    maxval = _pnm_maxval(image)
    if not 0 < maxval <= 65535:
        raise _Unsupported(f"PGM/PPM maxval must be in [1, 65535]; got {maxval}")
    channels = 3 if image.mode == "RGB" else 1
    width, height = image.size
    count = width * height * channels
    with open(path, "rb") as file:
        file.seek(tile.offset)
        data = file.read()
    if tile.codec_name == "ppm":
        dtype = ">u2" if maxval > 255 else "u1"
        if len(data) < count * np.dtype(dtype).itemsize:
            raise _Unsupported(f"truncated: {count} samples expected after the header")
        values = np.frombuffer(data, dtype=dtype, count=count)
    else:
        tokens = data.split()
        if len(tokens) < count:
            raise _Unsupported(f"truncated: {count} samples expected, {len(tokens)} found")
        values = np.array([int(token) for token in tokens[:count]], dtype=np.int64)
    if values.size and int(values.max()) > maxval:
        raise _Unsupported(f"a sample ({int(values.max())}) exceeds maxval {maxval}")
    return _Samples((values.astype(np.float64) / maxval).astype(np.float32).reshape(height, width, channels))


def _tiff_tuple(image: Image.Image, tag: int, default: int) -> tuple[int, ...]:
    value = image.tag_v2.get(tag, default)
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _pillow_reads_tiff_exactly(image: Image.Image) -> bool:
    """8-bit unsigned TIFFs (any photometric or compression), and 16-bit unsigned or float grey
    min-is-black TIFFs; the rest (16-bit RGB, min-is-white 16-bit, 32-bit or 12-bit integers, ...) go
    to tifffile."""
    bits = _tiff_tuple(image, 258, 1)
    formats = _tiff_tuple(image, 339, 1)
    if all(b <= 8 for b in bits) and all(f == 1 for f in formats):
        return True
    grey = image.tag_v2.get(262) == 1 and len(bits) == 1
    if image.mode.startswith("I;16"):
        return grey and bits == (16,) and formats == (1,)
    return image.mode == "F" and grey and formats == (3,)


def _read_tiff(path: Path) -> tuple[_Samples, int]:
    """A TIFF whose samples Pillow cannot read exactly, through tifffile (first page)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        data = page.asarray()
        axes, photometric, extras = page.axes, int(page.photometric), tuple(page.extrasamples)
        bits = page.bitspersample
        orientation_tag = page.tags.get(274)
        orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    if axes == "SYX":
        data = np.moveaxis(data, 0, -1)
    elif axes == "YX":
        data = data[..., None]
    elif axes != "YXS":
        raise _Unsupported(f"TIFF page with axes {axes!r}; expected a 2-D image (YX, YXS or SYX)")
    colour = {0: 1, 1: 1, 2: 3}.get(photometric)  # min-is-white, min-is-black, RGB
    if colour is None:
        raise _Unsupported(f"TIFF photometric interpretation {photometric} with {bits}-bit samples")
    if data.shape[-1] != colour + len(extras):
        raise _Unsupported(f"TIFF with {data.shape[-1]} samples per pixel for photometric {photometric}")
    if data.dtype.kind == "u" or data.dtype == np.bool_:
        top = 2**bits - 1
        if int(data.max(initial=0)) > top:
            raise _Unsupported(f"a sample ({int(data.max())}) exceeds the {bits}-bit maximum {top}")
        values = data.astype(np.float64) / top
    elif data.dtype.kind == "f":
        values = data.astype(np.float64)
        _check_unit_floats(values, f"{data.dtype} TIFF samples")
    else:
        raise _Unsupported(f"TIFF with {data.dtype} samples: signed integers have no [0, 1] scale")
    if photometric == 0:
        values[..., :colour] = 1.0 - values[..., :colour]
    alpha = [colour + i for i, kind in enumerate(extras) if kind in (1, 2)][:1]
    premultiplied = bool(alpha) and extras[alpha[0] - colour] == 1
    values = values[..., list(range(colour)) + alpha].astype(np.float32)
    return _Samples(values, premultiplied=premultiplied), orientation


def _exif_orientation(image: Image.Image) -> int:
    orientation = image.getexif().get(0x0112, 1)
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


# --------------------------------------------------------------------------------------------------
# Decoded Pillow images


def _decode_pil(image: Image.Image, *, rawmode: str | None) -> _Samples:
    """Samples of a loaded Pillow image in [0, 1], scaled by the mode's bit depth."""
    mode, key = image.mode, image.info.get("transparency")
    if mode == "1":
        values = np.asarray(image, dtype=np.uint8) * np.uint8(255)  # Pillow's tRNS key for "1" is 0 or 255
        return _with_key(values, key, 255)
    if mode == "L":
        if key is not None and rawmode in ("L;2", "L;4"):  # PNG keeps the key at 2 or 4 bits
            key *= 85 if rawmode == "L;2" else 17
        return _with_key(np.asarray(image), key, 255)
    if mode in ("LA", "RGBA"):
        return _Samples(np.asarray(image).astype(np.float32) / 255)
    if mode in ("La", "RGBa"):
        return _Samples(np.asarray(image).astype(np.float32) / 255, premultiplied=True)
    if mode in ("P", "PA"):
        return _Samples(np.asarray(image.convert("RGBA")).astype(np.float32) / 255)
    if mode == "RGB":
        return _with_key(np.asarray(image), key, 255)
    if mode == "RGBX":
        return _Samples(np.asarray(image)[..., :3].astype(np.float32) / 255)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return _Samples(np.asarray(image.convert("RGB")).astype(np.float32) / 255)
    if mode.startswith("I;16"):
        if mode == "I;16S":
            raise _Unsupported("signed 16-bit samples (I;16S) have no [0, 1] scale")
        return _with_key(np.asarray(image), key, 65535)
    if mode == "I":
        return _with_key(_sixteen_bit_values(image, rawmode), key, 65535)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        _check_unit_floats(values, "mode F samples")
        return _Samples(values[..., None])
    raise _Unsupported(f"Pillow mode {mode!r} is not supported")


def _sixteen_bit_values(image: Image.Image, rawmode: str | None) -> np.ndarray:
    """Mode ``I`` holds 32-bit integers; they are read only when the file stored unsigned 16-bit samples."""
    codec = image.format or ""
    sixteen = rawmode is not None and rawmode.startswith("I;16") and "S" not in rawmode
    if not sixteen:
        stored = rawmode or "unknown"
        raise _Unsupported(
            f"mode I with {stored} samples ({codec or 'in memory'}): 32-bit or signed integers have no "
            "[0, 1] scale; store 16-bit unsigned (I;16) or float (F) samples in [0, 1]"
        )
    values = np.asarray(image)
    if values.size and (int(values.min()) < 0 or int(values.max()) > 65535):
        raise _Unsupported("mode I samples outside [0, 65535] in a 16-bit file")
    return values.astype(np.uint16)


def _check_unit_floats(values: np.ndarray, what: str) -> None:
    if not np.isfinite(values).all():
        raise _Unsupported(f"{what} contain NaN or Inf")
    if values.size and (float(values.min()) < 0.0 or float(values.max()) > 1.0):
        raise _Unsupported(
            f"{what} must lie in [0, 1] to be an image here; got min {float(values.min()):.6g}, "
            f"max {float(values.max()):.6g}"
        )


def _key_alpha(values: np.ndarray, key, top: int) -> np.ndarray:
    """(H, W, 1) alpha in units of ``top``: 0 where every channel equals the colour key, else opaque."""
    key = np.asarray(key if isinstance(key, tuple | list) else (key,), dtype=np.int64)
    if values.ndim == 2:
        values = values[..., None]
    if key.size != values.shape[-1]:
        raise _Unsupported(f"transparency key {key.tolist()} does not match {values.shape[-1]} channels")
    transparent = (values.astype(np.int64) == key).all(axis=-1, keepdims=True)
    return np.where(transparent, 0, top).astype(values.dtype)


def _with_key(values: np.ndarray, key, top: int) -> _Samples:
    """Grey (H, W) or RGB (H, W, 3) integers in units of ``top``, with a colour key if the file has one."""
    if values.ndim == 2:
        values = values[..., None]
    if key is not None and not isinstance(key, bytes):  # bytes: a palette's alphas, handled by convert
        values = np.concatenate([values, _key_alpha(values, key, top)], axis=-1)
    return _Samples(values.astype(np.float32) / np.float32(top))  # exact operands: correctly rounded


# --------------------------------------------------------------------------------------------------
# Samples → RGB tensor

# EXIF orientation → what a viewer does to the stored pixels (H, W, C) to show them upright
_ORIENT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),
}


def _to_tensor(samples: _Samples, background: float, orientation: int) -> torch.Tensor:
    values = samples.values
    channels = values.shape[-1]
    if channels in (2, 4):
        colour, alpha = values[..., :-1], values[..., -1:]
        weight = np.float32(1.0) if samples.premultiplied else alpha
        values = weight * colour + (np.float32(1.0) - alpha) * np.float32(background)
        np.clip(values, 0.0, 1.0, out=values)  # rounding of the blend only
    if values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    values = _ORIENT[orientation](values)
    return torch.from_numpy(np.ascontiguousarray(values.transpose(2, 0, 1), dtype=np.float32))
