import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest
import torch

from laserlab.bench import threads
from laserlab.widgets import sigma_explorer, sigma_explorer_figure


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads, and on a shared, loaded machine their spin-waits
    make these tests an order of magnitude slower."""
    with threads(1):
        yield


def _find(container, kind, description=None):
    for child in container.children:
        if isinstance(child, widgets.Box):
            found = _find(child, kind, description)
            if found is not None:
                return found
        elif isinstance(child, kind) and (description is None or child.description == description):
            return child
    return None


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 24, 24, generator=g)
    return a, (a + 0.2 * torch.rand(3, 24, 24, generator=g)).clamp(0, 1)


def test_moving_the_level_slider_redraws_figure_and_value(pair):
    explorer = sigma_explorer(*pair, log2_sigma=0.0, num_levels=4)
    assert isinstance(explorer, widgets.VBox)
    picture, value = _find(explorer, widgets.Image), _find(explorer, widgets.HTML)
    slider = _find(explorer, widgets.FloatSlider, "log2 σ")
    before_png, before_text = picture.value, value.value
    assert before_png[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 3.0
    assert picture.value != before_png
    assert value.value != before_text
    mse = float(((pair[0] - pair[1]) ** 2).mean())
    assert f"{mse:.6g}" in before_text  # log2 σ = 0 is the mean squared error


def test_foveated_mode_enables_its_sliders_and_responds_to_them(pair):
    explorer = sigma_explorer(*pair, mode="constant")
    mode = _find(explorer, widgets.ToggleButtons)
    row, radius = (
        _find(explorer, widgets.IntSlider, "fixation row"),
        _find(explorer, widgets.FloatSlider, "radius"),
    )
    level = _find(explorer, widgets.FloatSlider, "log2 σ")
    assert row.disabled and not level.disabled
    mode.value = "foveated"
    assert not row.disabled and level.disabled
    picture, value = _find(explorer, widgets.Image), _find(explorer, widgets.HTML)
    before_png, before_text = picture.value, value.value
    row.value = 2
    assert picture.value != before_png and value.value != before_text
    before_png = picture.value
    radius.value = 20.0
    assert picture.value != before_png


def test_static_figure_and_validation(pair):
    fig = sigma_explorer_figure(*pair, mode="foveated", fixation=(3, 4), radius=2.0, num_levels=3)
    assert len([ax for ax in fig.axes if ax.images]) == 3 + 2 * 4
    plt.close(fig)
    with pytest.raises(ValueError, match="mode must be one of"):
        sigma_explorer(*pair, mode="boxes")
    with pytest.raises(ValueError, match=r"image_a must be one image \(3, H, W\)"):
        sigma_explorer(pair[0][None], pair[1][None])
    with pytest.raises(ValueError, match="image_b must have values in"):
        sigma_explorer_figure(pair[0], pair[1] + 2)
    with pytest.raises(TypeError, match=r"image_a must be a torch\.Tensor"):
        sigma_explorer(pair[0].tolist(), pair[1])
    with pytest.raises(ValueError, match="mode must be one of"):
        sigma_explorer_figure(*pair, mode="boxes")


def test_controls_are_exposed(pair):
    explorer = sigma_explorer(*pair, num_levels=3)
    assert set(explorer.controls) == {"mode", "log2_sigma", "row", "column", "radius"}
    before = explorer.picture.value
    explorer.controls["log2_sigma"].value = 1.0
    assert explorer.picture.value != before and "Wasserstein Distortion" in explorer.readout.value
