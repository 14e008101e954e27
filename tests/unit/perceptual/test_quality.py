import math

import pytest
import torch

from laserlab.perceptual import mse, psnr, ssim


def test_hand_computed_values():
    target = torch.zeros(2, 3, 16, 16)
    recon = target.clone()
    recon[0] += 0.1  # MSE 0.01 -> PSNR 20 dB
    recon[1, :, :8] = 0.5  # half the pixels off by 0.5 -> MSE 0.125
    assert torch.allclose(mse(recon, target), torch.tensor([0.01, 0.125]))
    assert torch.allclose(psnr(recon, target), torch.tensor([20.0, 10 * math.log10(1 / 0.125)]))
    assert psnr(target, target).isinf().all()


def test_data_range_is_explicit():
    target = torch.zeros(1, 1, 16, 16)
    recon = torch.full_like(target, 25.5)
    assert torch.allclose(psnr(recon, target, data_range=255.0), torch.tensor([20.0]))


def test_ssim_identity_and_ordering():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 32, 32, generator=g)
    mild = (target + 0.02 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    strong = (target + 0.2 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(ssim(target, target), torch.ones(1))
    assert 1 > ssim(mild, target).item() > ssim(strong, target).item()


def test_per_image_shape():
    x = torch.rand(5, 3, 16, 16)
    assert mse(x, x).shape == psnr(x, x.flip(0)).shape == ssim(x, x).shape == (5,)


@pytest.mark.parametrize(
    ("a", "b", "error", "message"),
    [
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 8), ValueError, "same shape"),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), ValueError, r"shape \(B, C, H, W\)"),
        (torch.rand(1, 3, 16, 16) + 1, torch.rand(1, 3, 16, 16), ValueError, r"values in \[0, 1\]"),
        (torch.full((1, 3, 16, 16), float("nan")), torch.rand(1, 3, 16, 16), ValueError, "finite"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.rand(1, 3, 16, 16), TypeError, "floating-point"),
    ],
)
def test_bad_input(a, b, error, message):
    with pytest.raises(error, match=message):
        psnr(a, b)


def test_ssim_needs_the_window():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x, x)
