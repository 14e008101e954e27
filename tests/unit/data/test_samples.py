import pytest
import torch

from laserlab.data import SOURCES, dataset, load_source, source_names


def test_train_and_test_share_no_source_image():
    train = dataset("samples", split="train", image_size=32, crops_per_image=2)
    test = dataset("samples", split="test", image_size=32, crops_per_image=2)
    assert set(train.sources).isdisjoint(test.sources)
    assert set(train.sources) == set(source_names("train"))
    assert set(test.sources) == set(source_names("test"))
    assert {s.name for s in SOURCES} == set(train.sources) | set(test.sources)


def test_items_are_float_images_in_unit_range():
    ds = dataset("samples", split="test", image_size=48, crops_per_image=3)
    assert len(ds) == 3 * len(source_names("test"))
    batch = torch.stack([ds[i] for i in range(len(ds))])
    assert batch.shape == (len(ds), 3, 48, 48) and batch.dtype == torch.float32
    assert batch.min() >= 0 and batch.max() <= 1
    assert batch.std() > 0.05  # real photographs, not a constant fallback


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = dataset("samples", split="train", image_size=32, seed=3, crops_per_image=4)
    b = dataset("samples", split="train", image_size=32, seed=3, crops_per_image=4)
    c = dataset("samples", split="train", image_size=32, seed=4, crops_per_image=4)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_crop_is_a_window_of_the_resized_source():
    ds = dataset("samples", split="test", image_size=16, crops_per_image=1, short_side=64)
    photo = load_source(ds.sources[0], short_side=64)
    windows = photo.unfold(1, 16, 1).unfold(2, 16, 1)  # (3, H', W', 16, 16)
    match = (windows - ds[0][:, None, None]).abs().amax(dim=(0, 3, 4))
    assert match.min() == 0


def test_full_images_when_image_size_is_none():
    ds = dataset("samples", split="test", image_size=None, short_side=64)
    assert len(ds) == len(source_names("test"))
    assert all(min(img.shape[1:]) == 64 for img in ds.images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "kodak"}, "dataset name must be one of"),
        ({"split": "validation"}, "split must be"),
        ({"image_size": 0}, "image_size must be an int >= 1"),
        ({"image_size": -3}, "image_size must be an int >= 1"),
        ({"shortside": 64}, r"dataset 'samples' has no option\(s\) \['shortside'\]; valid options: \["),
        ({"image_size": 300}, "image_size must be at most short_side"),
        ({"crops_per_image": 0}, "crops_per_image must be a positive int"),
        ({"split": "all"}, "split 'all' exists only for dataset 'folder'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    kwargs = {"name": "samples", **kwargs}
    with pytest.raises(ValueError, match=message):
        dataset(kwargs.pop("name"), **kwargs)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"\['celeba', 'cifar10', 'folder', 'imagenette', 'samples'\]"):
        dataset("kodak")


def test_load_source_is_recorded_for_provenance():
    from laserlab import usage

    usage.clear()
    load_source("coffee", short_side=32)
    assert [(r.kind, r.name, r.substituted) for r in usage.records()] == [("data", "samples/coffee", False)]


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="image_size must be an int >= 1"):
        dataset("samples", image_size=32.0)
