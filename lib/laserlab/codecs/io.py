"""Reading and writing image files as laserlab images (float tensors (3, H, W) in [0, 1]).

:func:`read_image` accepts 8-bit RGB, greyscale (``L``, repeated to three channels) and palette images
without transparency (converted to RGB); anything with an alpha channel or more than 8 bits per sample
is refused with ``ValueError`` rather than silently flattened. :func:`write_image` writes lossless
formats only (PNG, BMP, PPM, TIFF) with the 8-bit rounding round(255·v).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import image_from_uint8, image_to_uint8

LOSSLESS_SUFFIXES = (".png", ".bmp", ".ppm", ".tif", ".tiff")


def read_image(path: str | Path) -> torch.Tensor:
    """The image file at ``path`` as a float32 tensor (3, H, W) in [0, 1] (k / 255)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image file {path} does not exist")
    try:
        with Image.open(path) as picture:
            mode = picture.mode
            if mode == "P" and "transparency" in picture.info:
                raise ValueError(f"{path} is a palette image with transparency; laserlab codes opaque RGB")
            if mode not in ("RGB", "L", "P"):
                raise ValueError(
                    f"{path} has mode {mode!r}; laserlab reads 8-bit RGB, greyscale or palette images "
                    "(no alpha, 8 bits per sample)"
                )
            array = np.asarray(picture.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as error:
        raise ValueError(f"{path} is not an image file Pillow can read: {error}") from error
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{path} is truncated or corrupt: {error}") from error
    return image_from_uint8(array)


def write_image(image: torch.Tensor, path: str | Path) -> None:
    """Write ``image`` (3, H, W) in [0, 1] to ``path`` in the lossless format its suffix names."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() not in LOSSLESS_SUFFIXES:
        raise ValueError(
            f"output image must have a lossless format's suffix {list(LOSSLESS_SUFFIXES)}; got {path.name!r}"
        )
    Image.fromarray(image_to_uint8(image)).save(path)
