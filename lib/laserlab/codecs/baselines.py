"""Trivial baseline codecs every rate–distortion figure carries: mean colour and thumbnail.

Both write the laserlab container (:mod:`laserlab.codecs.container`: 15–19 bytes of header and CRC
around the payload), and both store 8-bit colours round(255·v).

- ``mean_colour``: the payload is the image's mean colour, 3 bytes (24 bits); the decoder paints every
  pixel with it. File size 18 bytes for sides below 128 pixels.
- ``thumbnail(factor=f, upsample="bilinear" | "bicubic")``: the payload is the area-downsampled image,
  h = ⌈H/f⌉ rows by w = ⌈W/f⌉ columns of 8-bit RGB, row-major with channels interleaved (3·h·w bytes).
  Cell (i, j) is the mean of the pixels [i·f, min((i+1)·f, H)) × [j·f, min((j+1)·f, W)): when f does not
  divide H or W, the last row or column of cells averages only the pixels it covers. The decoder
  upsamples by exactly f (``torch.nn.functional.interpolate``, ``align_corners=False``, so cell (i, j) sits
  at the centre of its full f×f block), crops the (h·f, w·f) result to (H, W) and clamps to [0, 1]
  (bicubic overshoots).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_choice, check_positive_int
from . import container
from .base import Codec, image_from_uint8, image_to_uint8

UPSAMPLE_MODES = ("bilinear", "bicubic")


def area_downsample(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean over each factor×factor cell of ``image`` (3, H, W): (3, ⌈H/f⌉, ⌈W/f⌉).

    Cells cut by the bottom or right edge average only the pixels inside the image.
    """
    check_positive_int(factor, "factor")
    _, height, width = image.shape
    rows, cols = math.ceil(height / factor), math.ceil(width / factor)
    pad = (0, cols * factor - width, 0, rows * factor - height)
    sums = F.pad(image, pad).reshape(3, rows, factor, cols, factor).sum(dim=(2, 4))
    counts = F.pad(torch.ones(1, height, width, dtype=image.dtype), pad)
    counts = counts.reshape(1, rows, factor, cols, factor).sum(dim=(2, 4))
    return sums / counts


def upsample(thumbnail: torch.Tensor, factor: int, size: tuple[int, int], *, mode: str) -> torch.Tensor:
    """``thumbnail`` (3, h, w) interpolated by exactly ``factor``, cropped to ``size`` = (H, W), clamped to
    [0, 1]; (3, H, W)."""
    check_positive_int(factor, "factor")
    check_choice(mode, "mode", UPSAMPLE_MODES)
    _, rows, cols = thumbnail.shape
    height, width = size
    if not (rows == math.ceil(height / factor) and cols == math.ceil(width / factor)):
        raise ValueError(
            f"thumbnail of {rows}×{cols} does not match an image of {height}×{width} at factor {factor}"
        )
    up = F.interpolate(thumbnail[None], size=(rows * factor, cols * factor), mode=mode, align_corners=False)
    return up[0, :, :height, :width].clamp(0.0, 1.0)


class MeanColourCodec(Codec):
    """The image's mean colour in 24 bits; decodes to a constant image of the original size."""

    name = "mean_colour"

    def __init__(self) -> None:
        self._model = container.model_id(self.name)

    @property
    def settings(self) -> dict[str, object]:
        return {}

    def _encode(self, image: torch.Tensor) -> bytes:
        colour = image.detach().to("cpu", torch.float64).mean(dim=(1, 2)).reshape(1, 1, 3)
        payload = bytes(image_to_uint8(colour.permute(2, 0, 1)).reshape(3))
        _, height, width = image.shape
        return container.pack(container.Header(self.name, self._model, height, width), payload)

    def _decode(self, data: bytes) -> torch.Tensor:
        header, payload = container.unpack(data, kind=self.name, model=self._model, decoder=self.label)
        if len(payload) != 3:
            raise ValueError(f"corrupt mean_colour file: payload of {len(payload)} bytes, expected 3")
        colour = image_from_uint8(np.frombuffer(payload, dtype=np.uint8).reshape(1, 1, 3))
        return colour.expand(3, header.height, header.width).contiguous()


class ThumbnailCodec(Codec):
    """An 8-bit thumbnail ``factor`` times smaller per side, upsampled back with ``upsample``.

    See the module docstring for sizes not divisible by ``factor``. ``factor=1`` stores the 8-bit image.
    """

    name = "thumbnail"

    def __init__(self, *, factor: int = 4, upsample: str = "bilinear") -> None:
        check_positive_int(factor, "factor")
        check_choice(upsample, "upsample", UPSAMPLE_MODES)
        self.factor = factor
        self.upsample = upsample
        self._model = container.model_id(self.name, f"factor={factor}", f"upsample={upsample}")

    @property
    def settings(self) -> dict[str, object]:
        return {"factor": self.factor, "upsample": self.upsample}

    def _encode(self, image: torch.Tensor) -> bytes:
        small = area_downsample(image.detach().to("cpu", torch.float64), self.factor)
        _, height, width = image.shape
        payload = image_to_uint8(small).tobytes()
        return container.pack(container.Header(self.name, self._model, height, width), payload)

    def _decode(self, data: bytes) -> torch.Tensor:
        header, payload = container.unpack(data, kind=self.name, model=self._model, decoder=self.label)
        rows, cols = math.ceil(header.height / self.factor), math.ceil(header.width / self.factor)
        if len(payload) != 3 * rows * cols:
            raise ValueError(
                f"corrupt thumbnail file: payload of {len(payload)} bytes, expected 3·{rows}·{cols} = "
                f"{3 * rows * cols} for a {header.height}×{header.width} image at factor {self.factor}"
            )
        small = image_from_uint8(np.frombuffer(payload, dtype=np.uint8).reshape(rows, cols, 3))
        return upsample(small, self.factor, (header.height, header.width), mode=self.upsample)
