"""Datasets from disk: any folder of images, and CIFAR-10 / CelebA / Imagenette through torchvision.

The torchvision datasets download into ``data/<name>`` (see :func:`laserlab.paths.data_dir`). Without a
network the download fails fast, and :class:`DatasetUnavailableError` says where to put the files.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .. import paths, usage
from .base import ImageDataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be loaded or downloaded; the message says where its files belong."""


def _to_tensor(image: Image.Image) -> torch.Tensor:
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(image.convert("RGB")).float().div_(255.0)


def _resize_center_crop(image: Image.Image, image_size: int | None) -> Image.Image:
    """Resize the shorter side to ``image_size`` (antialiased) and cut the central square."""
    if image_size is None:
        return image
    scale = image_size / min(image.size)
    width, height = max(image_size, round(image.width * scale)), max(image_size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - image_size) // 2, (height - image_size) // 2
    return image.crop((left, top, left + image_size, top + image_size))


def _readable(path: Path) -> bool:
    """Fully decode the file once: zero-byte, truncated or non-image files are caught here, not mid-epoch."""
    if path.stat().st_size == 0:
        return False
    try:
        with Image.open(path) as image:
            image.convert("RGB").load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False
    return True


class ImageFolder(ImageDataset):
    """Every image under ``root`` (recursively; suffixes in ``IMAGE_SUFFIXES``), sorted by path.

    Split: if ``root`` has ``train/`` and ``test/`` subfolders they are the splits; otherwise files are
    assigned to test by a hash of their relative path (``test_fraction`` of them, stable when files are
    added), or ``split="all"`` takes everything. Each file is decoded once at construction; unreadable
    files are skipped, counted in ``skipped`` and reported in one warning. Items are resized (shorter side
    ``image_size``) and centre-cropped to a square; ``image_size=None`` keeps the original size.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str = "train",
        image_size: int | None = 64,
        test_fraction: float = 0.2,
    ) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise ValueError(f"root must be an existing directory of images; got {str(root)!r}")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all' for a folder; got {split!r}")
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction!r}")
        super().__init__(name="folder", split=split)
        self.root = root
        self.image_size = image_size
        has_split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
        search_root = root / split if has_split_dirs and split != "all" else root
        candidates = sorted(
            p for p in search_root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not has_split_dirs and split != "all":
            candidates = [
                p for p in candidates if self._hash_split(p.relative_to(root), test_fraction) == split
            ]
        self.files = [p for p in candidates if _readable(p)]
        self.skipped = len(candidates) - len(self.files)
        if self.skipped:
            warnings.warn(
                f"skipped {self.skipped} unreadable image file(s) under {root} (zero-byte, corrupt or not "
                f"an image); {len(self.files)} remain",
                stacklevel=2,
            )
        if not self.files:
            raise ValueError(
                f"root {str(search_root)!r} holds no readable images for split {split!r} "
                f"(looked for {', '.join(IMAGE_SUFFIXES)} recursively; {self.skipped} unreadable)"
            )
        usage.record("data", f"folder/{split}", str(root))

    @staticmethod
    def _hash_split(relative: Path, test_fraction: float) -> str:
        bucket = zlib.crc32(relative.as_posix().encode()) / 2**32
        return "test" if bucket < test_fraction else "train"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.files[index]) as image:
            return _to_tensor(_resize_center_crop(image.convert("RGB"), self.image_size))


class TorchvisionImages(ImageDataset):
    """A torchvision dataset reduced to its images (labels dropped), resized and centre-cropped."""

    def __init__(self, name: str, split: str, base, image_size: int | None) -> None:
        super().__init__(name=name, split=split)
        self.base = base
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.base[index][0]
        return _to_tensor(_resize_center_crop(image, self.image_size))


_TORCHVISION = {
    # name: (torchvision class, how to map our split, what the folder must contain offline)
    "cifar10": (
        "CIFAR10",
        lambda s: {"train": s == "train"},
        "cifar-10-batches-py/ (from cifar-10-python.tar.gz)",
    ),
    "celeba": (
        "CelebA",
        lambda s: {"split": s},
        "celeba/ with img_align_celeba/ and list_eval_partition.txt",
    ),
    "imagenette": (
        "Imagenette",
        lambda s: {"split": "train" if s == "train" else "val", "size": "160px"},
        "imagenette2-160/ (from imagenette2-160.tgz)",
    ),
}


def torchvision_dataset(name: str, *, split: str = "train", image_size: int | None = 64) -> TorchvisionImages:
    """CIFAR-10, CelebA or Imagenette from ``data/<name>``, downloading when the files are absent."""
    import torchvision.datasets

    class_name, split_kwargs, layout = _TORCHVISION[name]
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    root = paths.data_dir() / name
    root.mkdir(parents=True, exist_ok=True)
    try:
        base = getattr(torchvision.datasets, class_name)(str(root), download=True, **split_kwargs(split))
    except Exception as error:  # torchvision raises URLError, RuntimeError or OSError depending on the set
        raise DatasetUnavailableError(
            f"dataset {name!r} could not be loaded or downloaded into {root} "
            f"({type(error).__name__}: {error}). Without internet, place the files there yourself "
            f"({root}/{layout}), or use dataset='samples' (offline) or dataset='folder' with "
            "root=<your images>."
        ) from error
    usage.record("data", f"{name}/{split}", str(root))
    return TorchvisionImages(name, split, base, image_size)
