import numpy as np
import pytest
import scipy.fft
import torch

from laserlab.spectral import dct_2d, dct_matrix, idct_2d


@pytest.mark.parametrize("size", [1, 2, 7, 8, 33])
def test_matrix_is_orthonormal_and_matches_scipy(size):
    matrix = dct_matrix(size, dtype=torch.float64)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(size, dtype=torch.float64), atol=1e-13, rtol=0)
    reference = scipy.fft.dct(np.eye(size), type=2, norm="ortho", axis=0)
    np.testing.assert_allclose(matrix.numpy(), reference, atol=1e-13)


def test_matrix_is_cached_per_dtype():
    assert dct_matrix(16) is dct_matrix(16)
    assert dct_matrix(16, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 1, 9, 20)])
def test_dct_2d_matches_scipy_and_round_trips(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = dct_2d(x)
    reference = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(spectrum.numpy(), reference, atol=1e-12)
    x32 = x.float()
    assert (idct_2d(dct_2d(x32)) - x32).abs().max() <= 1e-5
    # Parseval: orthonormal transforms keep the energy.
    torch.testing.assert_close(spectrum.square().sum(), x.square().sum())


def test_dc_coefficient_is_scaled_mean():
    x = torch.full((1, 1, 4, 9), 0.5)
    spectrum = dct_2d(x)
    assert spectrum[0, 0, 0, 0].item() == pytest.approx(0.5 * 6.0)
    assert spectrum[0, 0].abs().sum().item() == pytest.approx(3.0, abs=1e-5)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.zeros(3, 8, 8), ValueError, r"must have shape \(B, C, H, W\)"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.long), TypeError, "x"),
    ],
)
def test_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        dct_2d(bad)
    with pytest.raises(ValueError, match="size"):
        dct_matrix(0)


def test_matrix_first_built_in_inference_mode_still_serves_autograd():
    # Lightning validates under torch.inference_mode(); a cached inference tensor would break training later
    with torch.inference_mode():
        dct_2d(torch.rand(1, 1, 13, 11))
    assert not dct_matrix(13).is_inference()
    x = torch.rand(1, 1, 13, 11, requires_grad=True)
    idct_2d(dct_2d(x)).square().sum().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach(), atol=1e-5, rtol=1e-5)
