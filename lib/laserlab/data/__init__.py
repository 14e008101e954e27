"""Datasets by name: ``dataset("samples" | "folder" | "cifar10" | "celeba" | "imagenette", ...)``.

Every dataset yields float32 images (3, H, W) in [0, 1]. ``samples`` works offline (crops of bundled
photographs, train/test split by source image); ``folder`` reads any directory of images; the torchvision
sets download into ``data/``. ``ImageDataModule`` (Lightning) lives in :mod:`laserlab.data.datamodule`;
perceptual judgements (BAPPS 2AFC/JND, synthetic triplets and pairs) in :mod:`laserlab.data.twoafc`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..checks import check_choice, check_positive_int
from ..registry import Registry
from .base import ImageDataset
from .datasets import DatasetUnavailableError, ImageFolder, torchvision_dataset
from .images import DEFAULT_BACKGROUND, UnreadableImageError, image_from_pil, read_image, resize_center_crop
from .samples import SOURCES, SampleCrops, load_source, source_names


def _folder(
    *,
    root: str | Path,
    split: str,
    image_size: int | None,
    seed: int,
    test_fraction: float = 0.2,
    background: float = DEFAULT_BACKGROUND,
    on_error: str = "skip",
) -> ImageDataset:
    del seed  # the folder split is a stable hash of each path, not a seeded draw
    return ImageFolder(
        root,
        split=split,
        image_size=image_size,
        test_fraction=test_fraction,
        background=background,
        on_error=on_error,
    )


def _torchvision(name: str) -> Callable[..., ImageDataset]:
    def build(*, split: str, image_size: int | None, seed: int) -> ImageDataset:
        del seed  # fixed public splits
        return torchvision_dataset(name, split=split, image_size=image_size)

    return build


#: name → factory(split=, image_size=, seed=, **options) → ImageDataset
DATASETS: Registry[Callable[..., ImageDataset]] = Registry(
    "dataset",
    {
        "samples": SampleCrops,
        "folder": _folder,
        "cifar10": _torchvision("cifar10"),
        "celeba": _torchvision("celeba"),
        "imagenette": _torchvision("imagenette"),
    },
)


def dataset(
    name: str, *, split: str = "train", image_size: int | None = 64, seed: int = 0, **options
) -> ImageDataset:
    """Build the dataset registered as ``name`` for ``split`` ("train" or "test"; folders also "all").

    ``image_size`` is the side of the square items (``None``: native sizes where the set allows it);
    ``seed`` fixes any random choice (sample crop positions); ``options`` go to the dataset
    (``samples``: ``crops_per_image``, ``short_side``; ``folder``: ``root``, ``test_fraction``,
    ``background``, ``on_error``).
    """
    DATASETS.check(name)
    check_choice(split, "split", ("train", "test", "all"))
    if split == "all" and name != "folder":
        raise ValueError(f"split 'all' exists only for dataset 'folder'; use 'train' or 'test' for {name!r}")
    if image_size is not None:
        check_positive_int(image_size, "image_size")
    return DATASETS.build(name, split=split, image_size=image_size, seed=seed, **options)


__all__ = [
    "DATASETS",
    "SOURCES",
    "DatasetUnavailableError",
    "ImageDataset",
    "ImageFolder",
    "SampleCrops",
    "UnreadableImageError",
    "dataset",
    "image_from_pil",
    "load_source",
    "read_image",
    "resize_center_crop",
    "source_names",
]
