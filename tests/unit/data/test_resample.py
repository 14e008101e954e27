import pytest
import torch

from laserlab.bench import threads
from laserlab.data.resample import fill_region_with_mean, shuffle_region


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads, and on a shared, loaded machine their spin-waits
    make these tests an order of magnitude slower."""
    with threads(1):
        yield


def test_shuffles_patches_inside_the_box_only():
    images = torch.rand(2, 3, 12, 10)
    box = (2, 1, 10, 9)
    out = shuffle_region(images, box, patch_size=4, seed=1)
    outside = torch.ones(12, 10, dtype=torch.bool)
    outside[2:10, 1:9] = False
    assert torch.equal(out[..., outside], images[..., outside])
    for i in range(2):
        original = {
            images[i, :, r : r + 4, c : c + 4].flatten().tolist().__repr__() for r in (2, 6) for c in (1, 5)
        }
        moved = {
            out[i, :, r : r + 4, c : c + 4].flatten().tolist().__repr__() for r in (2, 6) for c in (1, 5)
        }
        assert original == moved  # the same patches, whole, in another order
    assert not torch.equal(out, images)


def test_pixel_shuffle_moves_pixels_with_all_channels_and_is_seeded():
    images = torch.rand(1, 3, 8, 8)
    out = shuffle_region(images, (0, 0, 8, 8), seed=5)
    pixels = lambda x: sorted(map(tuple, x[0].reshape(3, -1).T.tolist()))  # noqa: E731
    assert pixels(out) == pixels(images)
    assert torch.equal(out, shuffle_region(images, (0, 0, 8, 8), seed=5))
    assert not torch.equal(out, shuffle_region(images, (0, 0, 8, 8), seed=6))


def test_validation():
    images = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="must be multiples of patch_size=3"):
        shuffle_region(images, (0, 0, 8, 8), patch_size=3)
    with pytest.raises(ValueError, match="box must be \\(top, left, bottom, right\\)"):
        shuffle_region(images, (0, 0, 9, 8))
    with pytest.raises(ValueError, match="images must have shape"):
        shuffle_region(images[0], (0, 0, 4, 4))


def test_mean_fill_keeps_the_region_mean_and_nothing_else():
    g = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 12, 10, generator=g, dtype=torch.float64)
    box = (2, 1, 9, 7)
    before = images.clone()
    out = fill_region_with_mean(images, box)
    inside = torch.zeros(12, 10, dtype=torch.bool)
    inside[2:9, 1:7] = True
    assert torch.equal(out[..., ~inside], images[..., ~inside])
    for i in range(2):
        for c in range(3):
            region = out[i, c][inside]
            assert torch.all(region == region[0])  # flat: no texture left
            assert region[0].item() == pytest.approx(images[i, c][inside].mean().item(), abs=1e-15)
    assert not torch.equal(out, images) and torch.equal(images, before)  # the input is untouched


def test_mean_fill_validation():
    images = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="box must be \\(top, left, bottom, right\\)"):
        fill_region_with_mean(images, (0, 0, 9, 8))
    with pytest.raises(TypeError, match="box must be \\(top, left, bottom, right\\) ints"):
        fill_region_with_mean(images, (0, 0, 4.0, 4))
    with pytest.raises(ValueError, match="images must have shape"):
        fill_region_with_mean(images[0], (0, 0, 4, 4))
    with pytest.raises(TypeError, match="images must have a floating-point dtype"):
        fill_region_with_mean(images.long(), (0, 0, 4, 4))
