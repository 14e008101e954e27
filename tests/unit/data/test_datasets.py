import pickle
import urllib.error
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from laserlab.data import DatasetUnavailableError, ImageFolder, UnreadableImageError, dataset
from laserlab.data.datasets import MAX_SKIP_WARNINGS, list_image_files


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


def _bad_files(folder):
    (folder / "empty.png").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"not an image at all")
    good = (folder / "img_000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])


def test_construction_lists_without_opening_any_file(tmp_path, monkeypatch):
    import laserlab.data.datasets as datasets

    _write_images(tmp_path, 3)
    _bad_files(tmp_path)

    def no_reading(*args, **kwargs):
        raise AssertionError("a file was read at construction")

    monkeypatch.setattr(datasets, "read_image", no_reading)
    monkeypatch.setattr(Image, "open", no_reading)
    ds = ImageFolder(tmp_path, split="all", image_size=8)
    assert len(ds) == 6 and ds.skipped == 0  # bad files are only known once read


def test_corrupt_and_empty_files_are_skipped_and_counted_when_read(tmp_path):
    _write_images(tmp_path, 4)
    _bad_files(tmp_path)
    ds = ImageFolder(tmp_path, split="all", image_size=8)
    names = [p.name for p in ds.files]
    assert names == sorted(names) and len(ds) == 7
    with pytest.warns(UserWarning, match="skipped unreadable image file") as record:
        items = [ds[i] for i in range(len(ds))]  # a whole epoch, no crash
    assert len(record) == 3 and all(item.shape == (3, 8, 8) for item in items)
    assert ds.skipped == 3
    assert set(ds.skipped_files) == {str(tmp_path / n) for n in ("empty.png", "garbage.jpg", "truncated.png")}
    assert "UnidentifiedImageError" in ds.skipped_files[str(tmp_path / "garbage.jpg")]
    # a bad item is the next readable file, every time: garbage.jpg (0) → img_000.png (2)
    assert names[:3] == ["empty.png", "garbage.jpg", "img_000.png"]
    assert torch.equal(ds[0], ds[2]) and torch.equal(ds[1], ds[2])
    assert ds.skipped == 3  # known bad files are not re-read or re-counted


def test_on_error_raise_names_the_file(tmp_path):
    _write_images(tmp_path, 2)
    _bad_files(tmp_path)
    ds = ImageFolder(tmp_path, split="all", on_error="raise")
    with pytest.raises(UnreadableImageError, match=r"empty\.png"):
        ds[0]
    assert ds[2].shape == (3, 64, 64)


def test_skip_warnings_stop_after_ten_files(tmp_path):
    for i in range(13):
        (tmp_path / f"bad_{i:02d}.png").write_bytes(b"")
    _write_images(tmp_path, 1)
    ds = ImageFolder(tmp_path, split="all")
    with pytest.warns(UserWarning) as record:
        ds[0]
    messages = [str(w.message) for w in record]
    assert sum("skipped unreadable image file" in m for m in messages) == MAX_SKIP_WARNINGS
    assert sum("without a warning each" in m for m in messages) == 1
    assert ds.skipped == 13


def test_folder_of_only_unreadable_files_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_text("text")
    ds = ImageFolder(tmp_path, split="all")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the 2 image files"):
        ds[1]


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no image files"):
        dataset("folder", root=tmp_path, split="all")


def test_sixteen_bit_folder_reads_mid_grey_as_half(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / "grey16.png")
    ds = dataset("folder", root=tmp_path, split="all", image_size=None)
    assert torch.all(ds[0] == np.float32(32768 / 65535))
    resized = dataset("folder", root=tmp_path, split="all", image_size=4)[0]
    torch.testing.assert_close(resized, torch.full((3, 4, 4), 32768 / 65535))


def test_transparent_pixels_show_the_background(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    white = dataset("folder", root=tmp_path, split="all", image_size=None)[0]
    black = dataset("folder", root=tmp_path, split="all", image_size=None, background=0.0)[0]
    assert torch.all(white == 1) and torch.all(black == 0)


def test_listing_order_is_sorted_by_path_components_and_recursive(tmp_path):
    for relative in ("b.png", "a/z.png", "a-b.png", "a/b/c.PNG", "A.jpg", "notes.txt", "c/d.tiff"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / "loop").symlink_to(tmp_path)  # a link to a folder is not followed: no cycle
    expected = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix.lower() != ".txt")
    assert list(list_image_files(tmp_path)) == [p.relative_to(tmp_path).as_posix() for p in expected]
    assert list(ImageFolder(tmp_path, split="all").files) == expected


def test_file_list_is_compact_and_pickles(tmp_path):
    _write_images(tmp_path, 5)
    ds = ImageFolder(tmp_path, split="all", image_size=8)
    files = ds.files
    assert len(files) == 5 and files[-1] == files[4] == tmp_path / "img_004.png"
    assert files[1:3] == [tmp_path / "img_001.png", tmp_path / "img_002.png"]
    with pytest.raises(IndexError):
        files[5]
    with pytest.raises(IndexError):
        ds[5]
    copy = pickle.loads(pickle.dumps(ds))  # what DataLoader workers receive under spawn
    assert list(copy.files) == list(files) and torch.equal(copy[3], ds[3])


def test_folder_arguments_are_checked(tmp_path):
    _write_images(tmp_path, 1)
    for kwargs, error, match in (
        ({"root": 3}, TypeError, "root"),
        ({"split": "val"}, ValueError, "split"),
        ({"image_size": 0}, ValueError, "image_size"),
        ({"image_size": "64"}, TypeError, "image_size"),
        ({"test_fraction": 1.0}, ValueError, "test_fraction"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction"),
        ({"background": 2}, ValueError, "background"),
        ({"on_error": "ignore"}, ValueError, "on_error"),
    ):
        with pytest.raises(error, match=match):
            ImageFolder(**{"root": tmp_path, **kwargs})


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
    # the split of each file is a hash of its path relative to root, the same as before lazy listing
    in_test = {p.name for p in flat.iterdir() if zlib.crc32(p.name.encode()) / 2**32 < 0.3}
    assert {p.name for p in test.files} == in_test


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
