import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from laserlab.data import DatasetUnavailableError, ImageFolder, dataset


def _write_images(folder, count, size=(40, 30), start=0):
    rng = np.random.default_rng(0)
    for i in range(start, start + count):
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"img_{i:03d}.png")


def test_folder_reads_recursively_and_resizes(tmp_path):
    (tmp_path / "sub").mkdir()
    _write_images(tmp_path, 3)
    _write_images(tmp_path / "sub", 2, size=(20, 50), start=3)
    ds = ImageFolder(tmp_path, split="all", image_size=16)
    assert len(ds) == 5 and ds.skipped == 0
    assert ds[4].shape == (3, 16, 16) and ds[4].dtype == torch.float32
    assert float(ds[4].min()) >= 0 and float(ds[4].max()) <= 1


def test_corrupt_and_empty_files_are_skipped_and_counted(tmp_path):
    _write_images(tmp_path, 4)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "garbage.jpg").write_bytes(b"not an image at all")
    good = (tmp_path / "img_000.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        ds = ImageFolder(tmp_path, split="all", image_size=8)
    assert ds.skipped == 3 and len(ds) == 4
    assert all(ds[i].shape == (3, 8, 8) for i in range(len(ds)))  # a whole epoch, no crash


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no readable images"):
        dataset("folder", root=tmp_path, split="all")


def test_folder_needs_an_existing_root(tmp_path):
    with pytest.raises(ValueError, match="root must be an existing directory"):
        dataset("folder", root=tmp_path / "missing")
    with pytest.raises(ValueError, match=r"dataset 'folder' needs option\(s\) \['root'\]"):
        dataset("folder")


def test_folder_split_by_subfolders_or_stable_hash(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        (tmp_path / split).mkdir()
        _write_images(tmp_path / split, count)
    assert len(dataset("folder", root=tmp_path, split="train")) == 3
    assert len(dataset("folder", root=tmp_path, split="test")) == 2

    flat = tmp_path / "flat"
    flat.mkdir()
    _write_images(flat, 30)
    train = ImageFolder(flat, split="train", test_fraction=0.3)
    test = ImageFolder(flat, split="test", test_fraction=0.3)
    assert set(train.files).isdisjoint(test.files) and len(train) + len(test) == 30
    assert 0 < len(test) < 30


def test_torchvision_download_failure_says_where_to_put_files(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("LASERLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DatasetUnavailableError, match=r"cifar-10-batches-py.*dataset='samples'") as info:
        dataset("cifar10", split="train")
    assert str(tmp_path / "cifar10") in str(info.value)


def test_torchvision_dataset_items_are_resized_images(monkeypatch, tmp_path):
    import torchvision.datasets

    class FakeCIFAR:
        def __init__(self, root, *, train, download):
            assert download and root.endswith("cifar10")
            self.images = [Image.new("RGB", (32, 32), (255 * train, 128, 0))] * 5

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i], 7

    monkeypatch.setenv("LASERLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR)
    ds = dataset("cifar10", split="test", image_size=16)
    assert len(ds) == 5 and ds[0].shape == (3, 16, 16)
    assert torch.allclose(ds[0][:, 0, 0], torch.tensor([0.0, 128 / 255, 0.0]))
