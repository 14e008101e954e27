import pytest
import pytorch_msssim
import torch

from laserlab.codecs.metrics import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_scales, ms_ssim_weights


def _pair(shape, seed=0, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g)
    return (target + noise * torch.randn(shape, generator=g)).clamp(0, 1), target


@pytest.mark.parametrize("shape", [(1, 3, 161, 170), (1, 3, 180, 163)])
def test_five_scales_match_pytorch_msssim(shape):
    x, y = _pair(shape)
    reference = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ms_ssim(x, y), reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scales", [1, 2, 3, 4])
def test_fewer_scales_are_pytorch_msssim_with_the_rescaled_exponents(scales):
    x, y = _pair((1, 3, 170, 165), seed=scales)
    weights = list(ms_ssim_weights(scales))
    assert sum(weights) == pytest.approx(sum(MS_SSIM_WEIGHTS))
    reference = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False, weights=weights)
    torch.testing.assert_close(ms_ssim(x, y, scales=scales), reference, atol=1e-6, rtol=0)


def test_scale_rule():
    table = {11: 1, 20: 1, 21: 2, 40: 2, 41: 3, 64: 3, 80: 3, 81: 4, 160: 4, 161: 5, 768: 5}
    assert {side: ms_ssim_scales(side, 1000) for side in table} == table
    assert ms_ssim_scales(1000, 32) == 2
    with pytest.raises(ValueError, match="at least 11×11"):
        ms_ssim_scales(10, 100)


def test_small_images_identity_and_errors():
    x, y = _pair((2, 3, 32, 48))
    torch.testing.assert_close(ms_ssim(y, y), torch.ones(2))
    assert bool((ms_ssim(x, y) < 1).all())
    with pytest.raises(ValueError, match="3 MS-SSIM scales need the shorter side above 40"):
        ms_ssim(x, y, scales=3)
    with pytest.raises(ValueError, match="values in"):
        ms_ssim(x * 2, y)
