"""Standard image codecs through Pillow: JPEG, WebP, JPEG 2000 and AVIF, lossy, 8-bit RGB.

Each codec writes a real file of its format (Pillow, or any other reader, opens it) and its rate counts
the whole file, format headers included. Images are converted to 8 bits as round(255·v). Options:

- ``jpeg(quality=75)``: libjpeg quality 0–100, Pillow's defaults otherwise (4:2:0 chroma subsampling,
  standard Huffman tables); a JFIF file.
- ``webp(quality=75)``: libwebp lossy (``lossless=False``), quality 0–100, method 4 (Pillow's default).
- ``jpeg2000(quality=75)``: OpenJPEG, irreversible 9/7 wavelet (the lossy path), one quality layer, a bare
  J2K codestream (no JP2 boxes). OpenJPEG takes a target compression ratio over the raw 24-bit image, not
  a quality; ``quality`` q maps to the ratio 32·2^((50 − q)/20) (Pillow's ``quality_mode="rates"``), i.e. a
  target of 0.75·2^((q − 50)/20) bpp: q = 50 asks for 0.75 bpp, every 20 points doubles the rate, q = 0
  asks for 0.13 bpp and q = 100 for 4.2 bpp. The target is an upper bound on the payload; on small images
  the codestream headers (~150 bytes) come on top.
- ``avif(quality=75)``: libavif through Pillow, quality 0–100, Pillow's defaults otherwise (4:2:0, speed 6).

Decoding checks the format and converts Pillow's errors on truncated or corrupt files to ``ValueError``;
these formats carry no checksum, so flipped bits in the coded data (or a JPEG missing only its end marker)
can decode without error to a damaged image.

A codec whose format this Pillow was built without is listed by ``codecs.available()`` with the reason
and cannot be built.
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np
import torch

from ..checks import check_int
from .base import Codec, image_from_uint8, image_to_uint8


def _pillow_feature(feature: str) -> str | None:
    """None when Pillow supports ``feature``, else why not."""
    import PIL
    from PIL import features

    try:
        if features.check(feature):
            return None
    except ValueError as error:  # a Pillow that does not even know the feature name
        return f"Pillow {PIL.__version__} does not know the {feature!r} feature ({error})"
    return f"Pillow {PIL.__version__} was built without {feature!r} support"


class PillowCodec(Codec):
    """A lossy format Pillow encodes and decodes; subclasses fix the format and map ``quality``."""

    format: ClassVar[str]  # Pillow's format name, as Image.format reports it
    feature: ClassVar[str]  # PIL.features name of the library behind it

    def __init__(self, *, quality: int = 75) -> None:
        check_int(quality, "quality", minimum=0, maximum=100)
        self.quality = quality

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _pillow_feature(cls.feature)

    @property
    def settings(self) -> dict[str, object]:
        return {"quality": self.quality}

    def save_options(self) -> dict[str, object]:
        """Keyword arguments for ``PIL.Image.save`` (besides ``format``)."""
        return {"quality": self.quality}

    def _encode(self, image: torch.Tensor) -> bytes:
        from PIL import Image

        array = image_to_uint8(image)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=self.format, **self.save_options())
        return buffer.getvalue()

    def _decode(self, data: bytes) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        if not data:
            raise ValueError(f"empty file (0 bytes) given to the {self.name} decoder")
        try:
            with Image.open(io.BytesIO(data)) as picture:
                if picture.format != self.format:
                    raise ValueError(
                        f"the data is a {picture.format} file, not {self.format}; decode it with its codec"
                    )
                picture.load()
                if picture.mode != "RGB":
                    raise ValueError(
                        f"expected an RGB {self.format} file; this one has mode {picture.mode!r}"
                    )
                array = np.asarray(picture, dtype=np.uint8)
        except UnidentifiedImageError as error:
            raise ValueError(
                f"the data ({len(data)} bytes) is not a {self.format} file: Pillow cannot identify its format"
            ) from error
        except (OSError, SyntaxError, EOFError) as error:  # Pillow's ways of saying truncated or corrupt
            raise ValueError(f"truncated or corrupt {self.format} file: {error}") from error
        return image_from_uint8(array)


class JPEGCodec(PillowCodec):
    """JPEG (libjpeg through Pillow); see the module docstring."""

    name = "jpeg"
    format = "JPEG"
    feature = "jpg"


class WebPCodec(PillowCodec):
    """Lossy WebP (libwebp through Pillow); see the module docstring."""

    name = "webp"
    format = "WEBP"
    feature = "webp"

    def save_options(self) -> dict[str, object]:
        return {"quality": self.quality, "lossless": False}


def jpeg2000_ratio(quality: int) -> float:
    """OpenJPEG's target compression ratio over 24-bit RGB for ``quality``: 32·2^((50 − quality)/20)."""
    check_int(quality, "quality", minimum=0, maximum=100)
    return 32.0 * 2.0 ** ((50 - quality) / 20)


class JPEG2000Codec(PillowCodec):
    """JPEG 2000 (OpenJPEG through Pillow), lossy 9/7 wavelet; ``quality`` → :func:`jpeg2000_ratio`."""

    name = "jpeg2000"
    format = "JPEG2000"
    feature = "jpg_2000"

    def save_options(self) -> dict[str, object]:
        return {
            "quality_mode": "rates",
            "quality_layers": [jpeg2000_ratio(self.quality)],
            "irreversible": True,
            "no_jp2": True,
        }


class AVIFCodec(PillowCodec):
    """AVIF (libavif through Pillow); see the module docstring."""

    name = "avif"
    format = "AVIF"
    feature = "avif"
