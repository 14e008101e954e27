"""The codec protocol: an image in, bytes out, and back.

Every codec — standard (JPEG, WebP, JPEG 2000, AVIF through Pillow), trivial baseline (mean colour,
thumbnail) or learned — is a :class:`Codec`:

- ``encode(image) -> bytes`` takes one image, a float tensor (3, H, W) with values in [0, 1], and returns
  the complete file: decoding needs these bytes and the codec's settings, nothing else. Its rate in bits
  per pixel is ``8 * len(data) / (H * W)``.
- ``decode(data) -> image`` returns a float32 tensor (3, H, W) in [0, 1], the reconstruction the file
  defines; bytes that are empty, truncated, corrupt or written by another codec raise ``ValueError``.
- ``settings`` holds exactly the options the codec was built with (``codecs.build(name, **settings)``
  rebuilds it), ``label`` names it for tables and plots, e.g. ``webp(quality=50)``.

8-bit conversion, shared by every codec that stores 8-bit colours: v ↦ round(255·v) (round half to even)
as uint8, and k ↦ k / 255 back, so an 8-bit image survives the round trip exactly. Codecs of models that
need sides divisible by a size multiple pad with :func:`pad_to_multiple` and crop the padding off.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_finite, check_float_tensor


def check_image(image, name: str = "image") -> None:
    """``image`` must be a float tensor (3, H, W) with H, W ≥ 1, finite, with values in [0, 1]."""
    check_float_tensor(image, name)
    if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
        raise ValueError(
            f"{name} must be one RGB image of shape (3, H, W) with H, W >= 1; got {tuple(image.shape)}"
        )
    check_finite(image, name)
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must have values in [0, 1] (laserlab images are floats in [0, 1]); "
            f"got min {lo:.9g}, max {hi:.9g}"
        )


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """``image`` (3, H, W) as a batch of one (1, 3, H', W'), H' and W' the next multiples of ``multiple``,
    padded at the bottom and right by repeating the edge pixels."""
    _, height, width = image.shape
    pad = (0, -width % multiple, 0, -height % multiple)
    batch = image[None]
    return F.pad(batch, pad, mode="replicate") if any(pad) else batch


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """A checked image (3, H, W) in [0, 1] as a contiguous uint8 array (H, W, 3): round(255·v)."""
    check_image(image)
    levels = torch.round(image.detach().to("cpu", torch.float64) * 255.0).to(torch.uint8)
    return np.ascontiguousarray(levels.permute(1, 2, 0).numpy())


def image_from_uint8(array: np.ndarray) -> torch.Tensor:
    """A uint8 array (H, W, 3) as a float32 image (3, H, W) in [0, 1]: k / 255."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise TypeError(f"array must be a numpy uint8 array; got {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"array must have shape (H, W, 3); got {array.shape}")
    return torch.from_numpy(np.array(array, dtype=np.float32)).div_(255.0).permute(2, 0, 1).contiguous()


def check_data(data, name: str = "data") -> bytes:
    """``data`` must be ``bytes`` or ``bytearray``; returned as ``bytes``."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"{name} must be bytes (a codec file's contents); got {type(data).__name__}")
    return bytes(data)


class Codec(ABC):
    """An image codec: ``encode(image (3, H, W) in [0, 1]) -> bytes``, ``decode(bytes) -> image``.

    Subclasses set ``name`` (the registry key), implement ``settings``, ``_encode`` and ``_decode``
    (called with a checked image and with ``bytes``), and override :meth:`unavailable_reason` when they
    depend on something an install may lack.
    """

    name: ClassVar[str]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this codec cannot run in this install, or None when it can."""
        return None

    @property
    @abstractmethod
    def settings(self) -> dict[str, object]:
        """The options this codec was built with: ``codecs.build(self.name, **self.settings)``."""

    @property
    def label(self) -> str:
        """``name(option=value, ...)``, for tables and plot legends."""
        options = ", ".join(f"{key}={value!r}" for key, value in self.settings.items())
        return f"{self.name}({options})"

    def encode(self, image: torch.Tensor) -> bytes:
        """The file for ``image`` (3, H, W), float in [0, 1]; its rate is 8·len(file) / (H·W) bpp."""
        check_image(image)
        return self._encode(image)

    def decode(self, data: bytes) -> torch.Tensor:
        """The image (3, H, W), float32 in [0, 1], that the file ``data`` defines."""
        return self._decode(check_data(data))

    @abstractmethod
    def _encode(self, image: torch.Tensor) -> bytes: ...

    @abstractmethod
    def _decode(self, data: bytes) -> torch.Tensor: ...

    def __repr__(self) -> str:
        return self.label
