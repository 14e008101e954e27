import math

import pytest
import torch

from laserlab.bottlenecks import to_tokens
from laserlab.experiments import pixels
from laserlab.sparse import omp


def _images(n, *, seed, tint=(0.0, 0.0, 0.0), size=8):
    """Smooth random colour images in [0, 1] (a low-resolution field upsampled), optionally tinted."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g, dtype=torch.float64)
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    noise = 0.02 * torch.rand(n, 3, size, size, generator=g, dtype=torch.float64)
    return (0.8 * fine + noise + torch.tensor(tint, dtype=torch.float64).view(1, 3, 1, 1)).clamp(0, 1)


@pytest.fixture(scope="module")
def pixel_rows():
    train, test = _images(6, seed=1), _images(4, seed=2, tint=(0.2, 0.0, -0.2))
    return pixels.compare(
        {"train": train, "test (in-sample)": test}, test, patch_size=1, num_atoms=8, sparsities=[1, 2, 3, 4],
        vq_sizes=[64], kmeans_iterations=5, ksvd_iterations=3,
    ).rows  # fmt: skip


def _row(rows, method, sparsity=1, fitted_on="train", num_atoms=8):
    (row,) = [
        r for r in rows
        if (r.method, r.sparsity, r.fitted_on, r.num_atoms) == (method, sparsity, fitted_on, num_atoms)
    ]  # fmt: skip
    return row


def test_rows_cover_every_method_sparsity_and_fit_set(pixel_rows):
    assert len(pixel_rows) == 2 * (2 + 2 * 4)
    assert {(r.method, r.num_atoms) for r in pixel_rows if r.method == "vq"} == {("vq", 8), ("vq", 64)}


def test_rates_are_the_closed_forms(pixel_rows):
    assert _row(pixel_rows, "vq").bits_per_pixel == 3.0
    assert _row(pixel_rows, "vq", num_atoms=64).bits_per_pixel == 6.0
    for method in ("mp", "omp"):
        for s in (1, 2, 3, 4):
            expected = math.log2(math.comb(8, s)) + 8 * s
            assert _row(pixel_rows, method, s).bits_per_pixel == pytest.approx(expected)


def test_pixels_are_degenerate_for_omp_from_three_atoms_and_not_for_mp(pixel_rows):
    for s in (3, 4):
        assert _row(pixel_rows, "omp", s).mse_unquantized < 1e-20  # 3 atoms span RGB
        assert _row(pixel_rows, "mp", s).mse_unquantized > 1e-6  # MP never re-fits
    assert _row(pixel_rows, "omp", 1).mse == _row(pixel_rows, "mp", 1).mse  # one atom: the same coder
    assert _row(pixel_rows, "omp", 2).mse < _row(pixel_rows, "mp", 2).mse


def test_in_sample_fitting_flatters_every_method(pixel_rows):
    for method, s in (("vq", 1), ("mp", 2), ("omp", 2)):
        assert _row(pixel_rows, method, s, "test (in-sample)").mse < _row(pixel_rows, method, s).mse


def test_evaluate_returns_the_reconstruction_the_row_scores():
    train, test = _images(4, seed=3, size=16), _images(2, seed=4, size=16)
    fitted = pixels.fit(
        train, patch_size=4, num_atoms=6, sparsities=[2], kmeans_iterations=2, ksvd_iterations=2
    )
    for method in pixels.METHODS:
        row, reconstruction = pixels.evaluate(test, fitted, patch_size=4, method=method, sparsity=2)
        assert reconstruction.shape == test.shape
        assert row.mse == pytest.approx(float((reconstruction - test).square().mean()), rel=1e-12)
        assert row.psnr_db == pytest.approx(10 * math.log10(1 / row.mse))
        assert row.bits_per_pixel == pytest.approx(row.bits_per_token / 16)
    tokens = to_tokens(test, 4)
    vq = pixels.code_tokens(tokens, fitted.codebooks[6], method="vq")
    brute = torch.cdist(tokens, fitted.codebooks[6]).argmin(1)
    assert torch.equal(vq.indices[:, 0], brute)


def test_ksvd_dictionary_fits_better_than_its_initialisation():
    tokens = to_tokens(_images(6, seed=5, size=16), 4)
    initial = pixels.fit_codebook(tokens, 12, iterations=3, seed=0)
    start = pixels.fit_dictionary(tokens, initial, sparsity=2, iterations=0)
    assert torch.allclose(start, initial / initial.norm(dim=1, keepdim=True))
    learned = pixels.fit_dictionary(tokens, initial, sparsity=2, iterations=5)
    assert torch.allclose(learned.norm(dim=1), torch.ones(12, dtype=torch.float64))
    error = {
        name: omp(tokens, d, sparsity=2).residual_norm.square().mean()
        for name, d in (("start", start), ("learned", learned))
    }
    assert error["learned"] < 0.9 * error["start"]


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        pixels.code_tokens(torch.zeros(3, 3), torch.eye(3), method="lasso")
