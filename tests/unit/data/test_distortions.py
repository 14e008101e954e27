import pytest
import torch

from laserlab.data.distortions import DISTORTIONS, distort


@pytest.fixture
def images():
    return torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_every_distortion_keeps_shape_and_range_and_grows_with_strength(images, name):
    entry = DISTORTIONS[name]
    errors = []
    for strength in entry.sweep:
        out = distort(images, name, strength, seed=1)
        assert out.shape == images.shape and out.dtype == images.dtype
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        errors.append(float((out - images).pow(2).mean()))
    assert errors[-1] > errors[0] > 0  # sweeps go from mild to strong


def test_random_distortions_are_seeded(images):
    assert torch.equal(
        distort(images, "gaussian_noise", 0.1, seed=5), distort(images, "gaussian_noise", 0.1, seed=5)
    )
    assert not torch.equal(
        distort(images, "gaussian_noise", 0.1, seed=5), distort(images, "gaussian_noise", 0.1, seed=6)
    )


def test_known_cases():
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.allclose(distort(flat, "gaussian_blur", 2.0), flat)  # blur keeps a constant image
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16).contiguous()
    shifted = distort(ramp, "shift", 2)
    assert torch.equal(shifted[..., 2:], ramp[..., :-2])
    assert distort(ramp, "color_quantize", 2).unique().tolist() == [0.0, 1.0]


def test_bad_input():
    with pytest.raises(ValueError, match="distortion name must be one of"):
        distort(torch.rand(1, 3, 8, 8), "sharpen", 1)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        distort(torch.rand(1, 3, 8, 8) * 2, "jpeg", 50)
    with pytest.raises(ValueError, match="strength must be a finite number"):
        distort(torch.rand(1, 3, 8, 8), "jpeg", float("nan"))


@pytest.mark.parametrize("name", ["gaussian_blur", "motion_blur"])
def test_blurring_white_stays_in_range(name):
    white = torch.ones(1, 3, 16, 16)
    for strength in DISTORTIONS[name].sweep:  # motion blur over 11 pixels used to give 1 + 1.2e-7
        assert float(distort(white, name, strength).max()) <= 1.0
