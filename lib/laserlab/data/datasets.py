"""Datasets from disk: any folder of images, and CIFAR-10 / CelebA / Imagenette through torchvision.

The torchvision datasets download into ``data/<name>`` (see :func:`laserlab.paths.data_dir`). Without a
network the download fails fast, and :class:`DatasetUnavailableError` says where to put the files.
"""

from __future__ import annotations

import os
import warnings
import zlib
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from .. import paths, usage
from ..checks import check_choice, check_number, check_positive_int
from .base import ImageDataset
from .images import DEFAULT_BACKGROUND, UnreadableImageError, image_from_pil, read_image, resize_center_crop

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
MAX_SKIP_WARNINGS = 10


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be loaded or downloaded; the message says where its files belong."""


def list_image_files(directory: str | os.PathLike, *, suffixes: tuple[str, ...] = IMAGE_SUFFIXES):
    """Relative POSIX paths of the files under ``directory`` whose suffix (any case) is in ``suffixes``,
    recursively, in sorted order (component by component, as sorted ``Path`` objects compare).

    A generator over ``os.scandir``: no file is opened and no ``stat`` is made beyond what the directory
    listing gives (symbolic links to files are followed; links to folders are not, so no cycles).
    """
    yield from _walk(os.fspath(directory), "", tuple(s.lower() for s in suffixes))


def _walk(directory: str, prefix: str, suffixes: tuple[str, ...]):
    with os.scandir(directory) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, f"{prefix}{entry.name}/", suffixes)
        elif entry.name.lower().endswith(suffixes) and entry.is_file():
            yield prefix + entry.name


class FileList(Sequence[Path]):
    """Paths under ``root`` held as one byte string (file-system encoding) and an offset table: no Python
    object per file, so memory is a few bytes per file and DataLoader workers share it without
    copy-on-write growth."""

    def __init__(self, root: Path, relative: Iterable[str]) -> None:
        blob, offsets = bytearray(), array("q", [0])
        for name in relative:
            blob += os.fsencode(name)
            offsets.append(len(blob))
        self.root = root
        self._blob = bytes(blob)
        self._offsets = np.frombuffer(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def relative(self, index: int) -> str:
        """The path of item ``index`` relative to ``root``, POSIX style."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} files")
        index %= len(self)
        return os.fsdecode(self._blob[self._offsets[index] : self._offsets[index + 1]])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.root / self.relative(index)


class ImageFolder(ImageDataset):
    """Every image under ``root`` (recursively; suffixes in ``IMAGE_SUFFIXES``), sorted by path.

    Split: if ``root`` has ``train/`` and ``test/`` subfolders they are the splits; otherwise files are
    assigned to test by a hash of their relative path (``test_fraction`` of them, stable when files are
    added), or ``split="all"`` takes everything. Construction only lists the folder (``os.scandir``; no
    file is opened), so 100,000 files take well under a second and a few bytes per path (``files``).

    Items are read by :func:`laserlab.data.read_image` — every Pillow mode and bit depth scaled exactly
    to [0, 1], transparency composited on ``background`` (grey level, default 1.0 white), EXIF
    orientation applied — then resized (shorter side ``image_size``, bicubic, antialiased) and
    centre-cropped to a square; ``image_size=None`` keeps the original size.

    A file that cannot be read correctly (zero-byte, truncated, not an image, samples with no [0, 1]
    scale) is met when its item is read. ``on_error="skip"`` (default): it is recorded in
    ``skipped_files`` (path → reason) and counted in ``skipped``, a warning names it (the first
    ``MAX_SKIP_WARNINGS`` files, then one warning that further ones are only counted), and the item is
    the next readable file in order instead, so an epoch never stops on a bad file and the same index
    always gives the same image. ``on_error="raise"``: :class:`laserlab.data.UnreadableImageError`
    (a ``ValueError``) naming the file. With DataLoader workers each worker process keeps its own
    ``skipped`` count; the warnings are printed either way.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: str = "train",
        image_size: int | None = 64,
        test_fraction: float = 0.2,
        background: float = DEFAULT_BACKGROUND,
        on_error: str = "skip",
    ) -> None:
        if not isinstance(root, str | os.PathLike):
            raise TypeError(f"root must be a str or os.PathLike directory; got {type(root).__name__}")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise ValueError(f"root must be an existing directory of images; got {str(root)!r}")
        check_choice(split, "split", ("train", "test", "all"))
        if image_size is not None:
            check_positive_int(image_size, "image_size")
        check_number(test_fraction, "test_fraction", minimum=0.0, maximum=1.0)
        if test_fraction == 1.0:
            raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction!r}")
        check_number(background, "background", minimum=0.0, maximum=1.0)
        check_choice(on_error, "on_error", ("skip", "raise"))
        super().__init__(name="folder", split=split)
        self.root = root
        self.image_size = image_size
        self.background = background
        self.on_error = on_error
        has_split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
        search_root = root / split if has_split_dirs and split != "all" else root
        names = list_image_files(search_root)
        if not has_split_dirs and split != "all":
            names = (n for n in names if self._hash_split(n, test_fraction) == split)
        self.files = FileList(search_root, names)
        if not len(self.files):
            raise ValueError(
                f"root {str(search_root)!r} holds no image files for split {split!r} "
                f"(looked for {', '.join(IMAGE_SUFFIXES)} recursively)"
            )
        usage.record("data", f"folder/{split}", str(root))

    @staticmethod
    def _hash_split(relative: str, test_fraction: float) -> str:
        bucket = zlib.crc32(relative.encode("utf-8", "surrogateescape")) / 2**32
        return "test" if bucket < test_fraction else "train"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        count = len(self.files)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for {count} images")
        for step in range(count):
            path = self.files[(index + step) % count]
            if str(path) in self.skipped_files:
                continue
            try:
                image = read_image(path, background=self.background)
            except UnreadableImageError as error:
                if self.on_error == "raise":
                    raise
                self._skip(path, error.reason)
                continue
            return image if self.image_size is None else resize_center_crop(image, self.image_size)
        examples = "; ".join(f"{p}: {r}" for p, r in list(self.skipped_files.items())[:3])
        raise ValueError(f"none of the {count} image files under {self.root} is readable ({examples})")

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped_files[str(path)] = reason
        if self.skipped <= MAX_SKIP_WARNINGS:
            warnings.warn(
                f"skipped unreadable image file {path} ({reason}); its item is the next readable file "
                f"({self.skipped} skipped so far, in dataset.skipped_files)",
                stacklevel=3,
            )
        if self.skipped == MAX_SKIP_WARNINGS:
            warnings.warn(
                f"{MAX_SKIP_WARNINGS} unreadable image files under {self.root}: further ones are counted "
                "in dataset.skipped and dataset.skipped_files without a warning each",
                stacklevel=3,
            )


class TorchvisionImages(ImageDataset):
    """A torchvision dataset reduced to its images (labels dropped), resized and centre-cropped."""

    def __init__(self, name: str, split: str, base, image_size: int | None) -> None:
        super().__init__(name=name, split=split)
        self.base = base
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = image_from_pil(self.base[index][0])
        return image if self.image_size is None else resize_center_crop(image, self.image_size)


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
