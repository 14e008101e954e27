"""The offline default dataset: crops of the photographs shipped inside scikit-image and scikit-learn.

Train and test are split **by source image**, so held-out evaluation never sees a crop of a training
photograph. Each source is first resized (antialiased) so that its shorter side is ``short_side`` pixels,
which puts all photographs on a similar scale, then ``crops_per_image`` square crops are cut at positions
drawn from a generator seeded by (seed, split, source).

======================  =========  ======================  =====  ==========================================
name                    split      origin                  size   content
======================  =========  ======================  =====  ==========================================
astronaut               train      ``skimage.data``        512²   portrait (Eileen Collins), NASA
rocket                  train      ``skimage.data``        427×640  launch pad, NASA
motorcycle              train      ``skimage.data``        500×741  stereo_motorcycle left view, Middlebury
china                   train      ``sklearn`` samples     427×640  temple, trees, sky
hubble_deep_field       train      ``skimage.data``        872×1000  astronomy, NASA
immunohistochemistry    train      ``skimage.data``        512²   microscopy stain
retina                  train      ``skimage.data``        1411²  fundus photograph
chelsea                 test       ``skimage.data``        300×451  cat (fur texture)
coffee                  test       ``skimage.data``        400×600  coffee cup, wood
flower                  test       ``sklearn`` samples     427×640  flower, foliage
======================  =========  ======================  =====  ==========================================

``skimage.data.cat`` is the same photograph as ``chelsea`` and is deliberately not used.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from .. import usage
from .base import ImageDataset


@dataclass(frozen=True)
class SampleSource:
    name: str
    split: str
    origin: str


SOURCES: tuple[SampleSource, ...] = (
    SampleSource("astronaut", "train", "skimage"),
    SampleSource("rocket", "train", "skimage"),
    SampleSource("motorcycle", "train", "skimage"),
    SampleSource("china", "train", "sklearn"),
    SampleSource("hubble_deep_field", "train", "skimage"),
    SampleSource("immunohistochemistry", "train", "skimage"),
    SampleSource("retina", "train", "skimage"),
    SampleSource("chelsea", "test", "skimage"),
    SampleSource("coffee", "test", "skimage"),
    SampleSource("flower", "test", "sklearn"),
)


def source_names(split: str) -> list[str]:
    """Names of the source photographs in ``split`` ("train" or "test")."""
    _check_split(split)
    return [s.name for s in SOURCES if s.split == split]


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")


def _load_raw(name: str) -> np.ndarray:
    """(H, W, 3) uint8 array of a source photograph, straight from the package."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def load_source(name: str, *, short_side: int | None = 256) -> torch.Tensor:
    """One source photograph as a float tensor (3, H, W) in [0, 1].

    ``short_side`` resizes (bicubic, antialiased) so the shorter side has that many pixels; ``None`` keeps
    the original resolution.
    """
    from PIL import Image

    known = [s.name for s in SOURCES]
    if name not in known:
        raise ValueError(f"name must be one of the sample sources {known}; got {name!r}")
    if short_side is not None and (not isinstance(short_side, int) or short_side < 1):
        raise ValueError(f"short_side must be a positive int or None; got {short_side!r}")
    image = Image.fromarray(_load_raw(name)).convert("RGB")
    origin = next(s.origin for s in SOURCES if s.name == name)
    usage.record("data", f"samples/{name}", f"bundled photograph ({origin})")
    if short_side is not None:
        scale = short_side / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class SampleCrops(ImageDataset):
    """Square crops of the bundled photographs of one split; see the module docstring for the sources.

    Items are float tensors (3, image_size, image_size) in [0, 1]; ``sources[i]`` names the photograph
    item ``i`` was cut from. With ``image_size=None`` the items are the whole resized photographs (of
    different sizes; use batch size 1).
    """

    def __init__(
        self,
        *,
        split: str = "train",
        image_size: int | None = 64,
        seed: int = 0,
        crops_per_image: int = 32,
        short_side: int = 256,
    ) -> None:
        _check_split(split)
        if not isinstance(crops_per_image, int) or crops_per_image < 1:
            raise ValueError(f"crops_per_image must be a positive int; got {crops_per_image!r}")
        if image_size is not None and image_size > short_side:
            raise ValueError(
                f"image_size must be at most short_side={short_side} (sources are resized to that); "
                f"got {image_size}"
            )
        super().__init__(name="samples", split=split)
        images: list[torch.Tensor] = []
        sources: list[str] = []
        for source in source_names(split):
            photo = load_source(source, short_side=short_side)
            if image_size is None:
                images.append(photo)
                sources.append(source)
                continue
            # One generator per (seed, split, source): adding a source never moves another's crops.
            rng = np.random.default_rng([seed, zlib.crc32(f"{split}/{source}".encode())])
            _, height, width = photo.shape
            tops = rng.integers(0, height - image_size + 1, size=crops_per_image)
            lefts = rng.integers(0, width - image_size + 1, size=crops_per_image)
            for top, left in zip(tops, lefts, strict=True):
                images.append(photo[:, top : top + image_size, left : left + image_size].clone())
                sources.append(source)
        self.images = images if image_size is None else torch.stack(images)
        self.sources = sources
        usage.record("data", f"samples/{split}", f"bundled photographs: {', '.join(source_names(split))}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]
