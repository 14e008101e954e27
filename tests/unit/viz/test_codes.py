import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from laserlab.bench import threads
from laserlab.bottlenecks.pixels import patch_latent, sparse_code_images
from laserlab.experiments.pixels import Row
from laserlab.sparse.analysis import code_strength, dominant_atom
from laserlab.viz import channel_slices, code_map, code_strength_map, coder_rate_distortion, usage_histogram
from laserlab.viz.codes import categorical_colors

PATCH_SIZES = (1, 2, 4, 8)


@pytest.fixture(autouse=True)
def one_thread():
    with threads(1):
        yield
    plt.close("all")


def _expected(grid: torch.Tensor, patch_size: int, height: int, width: int) -> np.ndarray:
    """The oracle: pixel (y, x) shows the token in grid cell (y // p, x // p), written as plain loops."""
    out = np.empty((height, width), dtype=grid.numpy().dtype)
    for y in range(height):
        for x in range(width):
            out[y, x] = grid[y // patch_size, x // patch_size]
    return out


def _drawn(fig) -> np.ndarray:
    return np.asarray(fig.axes[0].images[0].get_array())


@pytest.mark.parametrize("patch_size", PATCH_SIZES)
@pytest.mark.parametrize("size", [(16, 24), (13, 19)])  # divisible by 8, and padded for p > 1
def test_code_map_draws_each_token_on_its_patch(patch_size, size):
    height, width = size
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    codes = torch.arange(2 * rows * cols).reshape(2, rows, cols) % 37  # distinct neighbours, 37 codes
    fig = code_map(codes.flatten(), patch_size=patch_size, image_size=size, num_codes=37, index=1)
    np.testing.assert_array_equal(_drawn(fig), _expected(codes[1], patch_size, height, width))
    # (B, h, w) input and a colour per code: the image is the code's colour
    colors = torch.rand(37, 3, generator=torch.Generator().manual_seed(patch_size))
    fig = code_map(codes, patch_size=patch_size, image_size=size, num_codes=37, colors=colors, index=1)
    expected = colors.numpy()[_expected(codes[1], patch_size, height, width)]
    np.testing.assert_allclose(_drawn(fig), expected, rtol=0, atol=1e-7)


def test_code_map_is_categorical_and_masks_missing_codes():
    codes = torch.tensor([[[0, 1], [-1, 2]]])
    fig = code_map(codes, patch_size=2, image_size=(4, 4), num_codes=3)
    image = fig.axes[0].images[0]
    drawn = image.get_array()
    assert drawn.mask[2:, :2].all() and not drawn.mask[:2].any()
    # each index sits in the middle of its own colour bin: neighbouring codes get unrelated colours
    assert image.norm.vmin == -0.5 and image.norm.vmax == 2.5
    assert image.cmap.N == 3
    assert "3 of 3 used" in fig.axes[0].get_title()
    palette = categorical_colors(50)
    assert len({tuple(np.round(c, 6)) for c in palette}) == 50
    with pytest.raises(ValueError, match=r"indices must lie in \[-1, num_codes\)"):
        code_map(codes, patch_size=2, image_size=(4, 4), num_codes=2)
    with pytest.raises(TypeError, match="indices must be an integer tensor"):
        code_map(codes.float(), patch_size=2, image_size=(4, 4), num_codes=3)
    with pytest.raises(ValueError, match=r"values must have shape \(B·h·w,\) or \(B, h, w\)"):
        code_map(codes[0], patch_size=2, image_size=(4, 4), num_codes=3)


@pytest.mark.parametrize("patch_size", PATCH_SIZES)
def test_strength_map_blocks_and_percentile_scale(patch_size):
    height, width = 3 * patch_size + 1, 2 * patch_size
    rows, cols = 4, 2
    strength = torch.arange(rows * cols, dtype=torch.float64).reshape(1, rows, cols) + 1
    fig = code_strength_map(strength, patch_size=patch_size, image_size=(height, width), percentiles=(0, 100))
    np.testing.assert_allclose(_drawn(fig), _expected(strength[0], patch_size, height, width))
    image = fig.axes[0].images[0]
    assert image.norm.vmin == 1 and image.norm.vmax == 8  # the map's own extremes (last row cropped in)
    # percentiles of the pixel map set the colour scale: one outlier token does not wash out the rest
    strength[0, 0, 0] = 1000
    fig = code_strength_map(strength, patch_size=patch_size, image_size=(height, width), percentiles=(0, 75))
    pixels = _expected(strength[0], patch_size, height, width)
    low, high = np.percentile(pixels, [0, 75])
    image = fig.axes[0].images[0]
    assert image.norm.vmin == pytest.approx(low) and image.norm.vmax == pytest.approx(high) and high < 1000


@pytest.mark.parametrize("patch_size", PATCH_SIZES)
def test_maps_of_an_image_built_from_known_atoms(patch_size):
    """Every patch of the image is c·atom_k with a known k and c > 0: OMP with S = 1 finds exactly that
    atom and coefficient, so the dominant-atom map and the strength map are known on every pixel."""
    g = torch.Generator().manual_seed(patch_size)
    rows, cols, num_atoms, width = 3, 4, 6, 3 * patch_size**2
    dictionary = torch.nn.functional.normalize(
        torch.rand(num_atoms, width, generator=g, dtype=torch.float64) + 0.1, dim=1
    )
    atom = torch.randint(num_atoms, (rows * cols,), generator=g)
    scale = 0.5 + torch.rand(rows * cols, generator=g, dtype=torch.float64)
    tokens = scale[:, None] * dictionary[atom]
    images = tokens.reshape(1, rows, cols, width).permute(0, 3, 1, 2)  # a patch latent
    from laserlab.bottlenecks.pixels import from_patch_latent

    shape = (1, 3, rows * patch_size, cols * patch_size)
    images = from_patch_latent(images, patch_size, shape)
    torch.testing.assert_close(
        patch_latent(images, patch_size).permute(0, 2, 3, 1).reshape(-1, width), tokens
    )
    coded = sparse_code_images(images, dictionary, patch_size=patch_size, sparsity=1, value_bits=20)
    size = tuple(images.shape[-2:])
    fig = code_map(
        dominant_atom(coded.code.sparse), patch_size=patch_size, image_size=size, num_codes=num_atoms
    )
    np.testing.assert_array_equal(_drawn(fig), _expected(atom.reshape(rows, cols), patch_size, *size))
    fig = code_strength_map(code_strength(coded.code.sparse), patch_size=patch_size, image_size=size)
    np.testing.assert_allclose(
        _drawn(fig), _expected(scale.reshape(rows, cols), patch_size, *size), atol=1e-5
    )


def test_usage_histogram_title_and_bars():
    counts = torch.tensor([0, 2, 2, 0, 4])
    fig = usage_histogram(counts)
    title = fig.axes[0].get_title()
    # p = (1/4, 1/4, 1/2): entropy 1.5 bits, perplexity 2^1.5
    assert f"perplexity {2**1.5:.1f}" in title and "entropy 1.50 bits" in title and "3/5 used" in title
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [0.5, 0.25, 0.25, 0, 0])
    with pytest.raises(ValueError, match="counts must be non-negative"):
        usage_histogram(torch.tensor([1, -1]))


def test_channel_slices_trace_the_chosen_row():
    g = torch.Generator().manual_seed(0)
    original = torch.rand(3, 6, 9, generator=g)
    other = torch.rand(3, 6, 9, generator=g)
    fig = channel_slices(original, {"other": other}, row=4)
    assert len(fig.axes) == 3
    for channel, ax in enumerate(fig.axes):
        first, second = ax.get_lines()
        np.testing.assert_allclose(first.get_ydata(), original[channel, 4].numpy())
        np.testing.assert_allclose(second.get_ydata(), other[channel, 4].numpy())
    with pytest.raises(ValueError, match="row must be in"):
        channel_slices(original, {"other": other}, row=6)
    with pytest.raises(ValueError, match="other must have the original's shape"):
        channel_slices(original, {"other": other[:, :5]})


def _row(method, s, fitted_on, mse, bpp, k=16):
    return Row(method, k, s, 1, fitted_on, mse, mse, 0.0, bpp, bpp)


def test_coder_rate_distortion_draws_one_line_per_method_and_fit_set():
    rows = [
        _row("vq", 1, "train", 1e-2, 4.0), _row("vq", 1, "train", 5e-3, 8.0, k=256),
        _row("omp", 1, "train", 2e-3, 12.0), _row("omp", 3, "train", 0.0, 33.1),
        _row("mp", 1, "test (in-sample)", 2e-4, 12.0),
    ]  # fmt: skip
    fig = coder_rate_distortion(rows, title="pixels")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "VQ (k-means), fitted on train", "exact OMP, fitted on train",
        "matching pursuit, fitted on test (in-sample)",
    }  # fmt: skip
    assert lines["matching pursuit, fitted on test (in-sample)"].get_linestyle() == "--"
    omp_y = lines["exact OMP, fitted on train"].get_ydata()
    assert omp_y[1] == 1e-4  # MSE 0 is drawn at half the smallest positive MSE, on the log axis
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log" and ax.get_title() == "pixels"
    plt.close(fig)


def test_coder_rate_distortion_draws_baselines_and_says_their_rates_are_real():
    rows = [_row("vq", 1, "train", 1e-2, 4.0), _row("omp", 1, "train", 2e-3, 12.0)]
    fig = coder_rate_distortion(rows, baselines={"mean colour": [(0.05, 3e-2)], "thumbnail": [(0.4, 5e-3)]})
    ax = fig.axes[0]
    assert {"mean colour", "thumbnail"} <= {line.get_label() for line in ax.get_lines()}
    assert "baselines: real files" in ax.get_xlabel()
    plt.close(fig)
