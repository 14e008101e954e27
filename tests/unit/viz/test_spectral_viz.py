import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.fft
import skimage.data
import torch

from laserlab.bench import threads
from laserlab.viz import convergence_curves, dct_masks, psnr_vs_tau, truncation_gallery


@pytest.fixture(autouse=True)
def one_thread_and_close():
    """One thread (small tensors, a shared machine) and no figure left open after a test."""
    with threads(1):
        yield
    plt.close("all")


def _photo(size: int = 48) -> np.ndarray:
    """(size, size, 3) float64 in [0, 1]: a centre crop of a scikit-image photograph."""
    image = skimage.data.astronaut()
    top = (image.shape[0] - size) // 2
    return image[top : top + size, top : top + size] / 255.0


def _radial_mask(height: int, width: int, tau: float) -> np.ndarray:
    u = np.arange(height)[:, None] / height
    v = np.arange(width)[None, :] / width
    return np.maximum(0.0, (tau - np.hypot(u, v)) / tau)


def _oracle_psnr(image_hwc: np.ndarray, tau: float) -> float:
    """PSNR of the truncated image, clamped to [0, 1], against the original: scipy DCT and the formula."""
    height, width = image_hwc.shape[:2]
    spectrum = scipy.fft.dctn(image_hwc, type=2, norm="ortho", axes=(0, 1))
    truncated = scipy.fft.idctn(
        spectrum * _radial_mask(height, width, tau)[..., None], norm="ortho", axes=(0, 1)
    )
    mse = np.mean((np.clip(truncated, 0, 1) - image_hwc) ** 2)
    return 10 * math.log10(1 / mse)


# --------------------------------------------------------------------------------------------- masks


def test_dct_masks_draws_one_mask_per_tau_on_one_scale():
    taus = [0.05, 0.5, 1.0]
    fig = dct_masks(taus, size=(256, 256))
    image_axes = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 3
    assert {ax.images[0].get_clim() for ax in image_axes} == {(0, 1)}
    titles = [ax.get_title() for ax in image_axes]
    assert titles[0].startswith("τ = 0.05") and "0.21 %" in titles[0]
    assert "78.92 %" in titles[2]  # π/4 of the coefficients: the quarter disc r < 1
    for ax in image_axes:
        data = ax.images[0].get_array()
        assert data[0, 0] == 1.0  # DC at the top-left
        assert ax.images[0].get_extent() == [0, 1, 1, 0]
        assert ax.get_xlabel() == "v/W"
    assert image_axes[0].get_ylabel() == "u/H"


def test_dct_masks_non_square_and_kinds():
    fig = dct_masks([0.5], size=(16, 40), kind="square")
    (ax,) = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    data = np.asarray(ax.images[0].get_array())
    assert data.shape == (16, 40) and data.sum() == 8 * 20
    assert "25.00 %" in ax.get_title()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"taus": []}, ValueError, "taus"),
        ({"taus": 0.5}, TypeError, "taus"),
        ({"taus": [0.5, 0]}, ValueError, r"taus\[1\]"),
        ({"taus": [1.5]}, ValueError, r"taus\[0\]"),
        ({"taus": [0.5], "kind": "disc"}, ValueError, "kind"),
        ({"taus": [0.5], "size": (8,)}, ValueError, "size"),
        ({"taus": [0.5], "size": 8}, TypeError, "size"),
        ({"taus": [0.5], "size": (8, 0)}, ValueError, r"size\[1\]"),
    ],
)
def test_dct_masks_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        dct_masks(**kwargs)


# ------------------------------------------------------------------------------------------- gallery


@pytest.mark.parametrize("as_array", [True, False])
def test_truncation_gallery_titles_carry_the_psnr(as_array):
    photo = _photo()
    image = photo if as_array else torch.from_numpy(photo).permute(2, 0, 1).float()
    taus = [0.1, 0.5, 1.0]
    fig = truncation_gallery(image, taus)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 4
    assert image_axes[0].get_title() == "original"
    for ax, tau in zip(image_axes[1:], taus, strict=True):
        expected = _oracle_psnr(photo, tau)
        assert f"τ = {tau:g}" in ax.get_title()
        shown = float(ax.get_title().split("\n")[1].removesuffix(" dB"))
        assert shown == pytest.approx(expected, abs=0.011)
        shown_image = np.asarray(ax.images[0].get_array())
        assert shown_image.min() >= 0 and shown_image.max() <= 1  # clamped for display
    values = [float(ax.get_title().split("\n")[1].removesuffix(" dB")) for ax in image_axes[1:]]
    assert values == sorted(values)  # a wider band is closer to the original


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (torch.rand(1, 3, 8, 8).expand(2, 3, 8, 8), ValueError, "one image"),
        (torch.rand(3, 8), ValueError, "image must be a tensor"),
        (torch.rand(4, 8, 8), ValueError, "3 channels"),
        (torch.rand(3, 8, 8) * 2, ValueError, r"\[0, 1\]"),
        (np.zeros((8, 8, 3), dtype=np.uint8), TypeError, "float array"),
        (np.zeros((8, 8, 4)), ValueError, "float array"),
        ([[0.5]], TypeError, "image must be a tensor"),
    ],
)
def test_truncation_gallery_bad_image(image, error, match):
    with pytest.raises(error, match=match):
        truncation_gallery(image, [0.5])


def test_truncation_gallery_bad_taus_and_kind():
    with pytest.raises(ValueError, match=r"taus\[0\]"):
        truncation_gallery(torch.rand(3, 8, 8), [math.nan])
    with pytest.raises(ValueError, match="kind"):
        truncation_gallery(torch.rand(3, 8, 8), [0.5], kind="ring")


# ---------------------------------------------------------------------------------------- PSNR vs τ


def test_psnr_vs_tau_one_line_per_kind_and_a_passband_axis():
    photo = _photo(32)
    taus = [0.1, 0.4, 1.0]
    fig = psnr_vs_tau(photo, taus, kinds=("radial", "hard", "square"))
    main, twin = fig.axes
    assert len(main.lines) == 3 and len(twin.lines) == 3
    radial = main.lines[0]
    np.testing.assert_allclose(radial.get_xdata(), taus)
    np.testing.assert_allclose(radial.get_ydata(), [_oracle_psnr(photo, tau) for tau in taus], atol=1e-3)
    assert twin.lines[0].get_ydata()[-1] == pytest.approx(100 * np.mean(_radial_mask(32, 32, 1.0) > 0))
    assert twin.lines[2].get_ydata()[-1] == pytest.approx(100.0)  # the square cut at τ = 1 passes all
    # the square cut at τ = 1 is the identity: rounding error only, drawn off the top of the axis
    assert [line.get_label() for line in main.lines] == ["radial", "hard", "square (↑ identity)"]
    assert main.lines[2].get_ydata()[-1] > 100
    assert main.get_ylim()[1] < 100 and main.get_ylim()[1] > max(main.lines[1].get_ydata())


def test_psnr_vs_tau_averages_a_batch_and_draws_into_ax():
    photos = [_photo(32), _photo(32)[::-1].copy()]
    batch = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float()
    fig, ax = plt.subplots()
    assert psnr_vs_tau(batch, [0.3], ax=ax) is fig
    expected = np.mean([_oracle_psnr(p, 0.3) for p in photos])
    assert ax.lines[0].get_ydata()[0] == pytest.approx(expected, abs=1e-3)
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kinds": ()}, ValueError, "kinds"),
        ({"kinds": "radial"}, TypeError, "kinds"),
        ({"kinds": ("radial", "x")}, ValueError, r"kinds\[1\]"),
    ],
)
def test_psnr_vs_tau_bad_kinds(kwargs, error, match):
    with pytest.raises(error, match=match):
        psnr_vs_tau(torch.rand(3, 8, 8), [0.5], **kwargs)


# -------------------------------------------------------------------------------------- convergence


HISTORIES = {
    "baseline": [(0, 1.0), (100, 0.5), (200, 0.3), (300, 0.2)],
    "spectral": [(200, 0.18), (0, 0.9), (100, 0.25), (300, 0.15)],  # unsorted on purpose
    "slow": [(0, 2.0), (300, 0.8)],
}


def test_convergence_curves_mark_the_first_step_at_the_target():
    fig = convergence_curves(HISTORIES, target=0.2)
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    np.testing.assert_allclose(by_label["spectral"].get_xdata(), [0, 100, 200, 300])
    np.testing.assert_allclose(by_label["spectral"].get_ydata(), [0.9, 0.25, 0.18, 0.15])
    assert list(by_label["spectral: step 200"].get_xdata()) == [200]
    assert list(by_label["spectral: step 200"].get_ydata()) == [0.18]
    assert list(by_label["baseline: step 300"].get_xdata()) == [300]  # "at or below": equality counts
    assert not any(label.startswith("slow:") for label in by_label)
    target_line = by_label["baseline final"]
    assert list(target_line.get_ydata()) == [0.2, 0.2] and target_line.get_linestyle() == "--"
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "validation MSE"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "baseline final" in legend and "spectral: step 200" in legend


def test_convergence_curves_without_target_and_linear_axis():
    fig, ax = plt.subplots()
    assert convergence_curves({"a": [(1, -0.5), (2, -1.0)]}, ax=ax, log_y=False, ylabel="loss") is fig
    assert len(ax.lines) == 1 and ax.get_yscale() == "linear" and ax.get_ylabel() == "loss"


@pytest.mark.parametrize(
    ("histories", "kwargs", "match"),
    [
        ({}, {}, "histories must be a non-empty"),
        ({"a": []}, {}, r"histories\['a'\]"),
        ({"a": [(0, 1.0, 2.0)]}, {}, r"histories\['a'\]"),
        ({"a": [(0, math.nan)]}, {}, r"histories\['a'\]"),
        ({"a": [(0, 0.0)]}, {}, r"histories\['a'\] must hold positive values"),
        ({"a": [(0, 1.0)]}, {"target": math.inf}, "target"),
        ({"a": [(0, 1.0)]}, {"target": -1.0}, "target must be positive"),
    ],
)
def test_convergence_curves_bad_input(histories, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convergence_curves(histories, **kwargs)
    with pytest.raises(TypeError, match="histories must be a non-empty"):
        convergence_curves([(0, 1.0)])
