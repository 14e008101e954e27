import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest
import torch

from laserlab.bench import threads
from laserlab.bottlenecks.pixels import sparse_code_images
from laserlab.widgets import sparsity_explorer, sparsity_explorer_figure


@pytest.fixture(autouse=True)
def one_thread():
    with threads(1):
        yield
    plt.close("all")


@pytest.fixture
def setting():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 12, 12, generator=g)
    dictionary = torch.nn.functional.normalize(torch.randn(20, 12, generator=g), dim=1)
    return image, dictionary


def test_moving_sparsity_and_solver_redraws(setting):
    explorer = sparsity_explorer(*setting, patch_size=2, sparsity=2)
    assert isinstance(explorer, widgets.VBox)
    slider, solver = explorer.controls["sparsity"], explorer.controls["solver"]
    assert isinstance(slider, widgets.IntSlider) and slider.max == 12  # min(K, 3·p², 32)
    before_png, before_text = explorer.picture.value, explorer.readout.value
    assert before_png[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 6
    assert explorer.picture.value != before_png and explorer.readout.value != before_text
    expected = sparse_code_images(setting[0][None], setting[1], patch_size=2, sparsity=6)
    assert f"{expected.bits_per_pixel:.3f} bits per pixel" in explorer.readout.value
    before_png, before_text = explorer.picture.value, explorer.readout.value
    solver.value = "mp"
    assert explorer.picture.value != before_png
    assert "matching pursuit" in explorer.readout.value and explorer.readout.value != before_text


def test_static_figure_shows_the_coding(setting):
    fig = sparsity_explorer_figure(*setting, patch_size=2, sparsity=3, solver="mp")
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 4
    coded = sparse_code_images(setting[0][None], setting[1], patch_size=2, sparsity=3, solver="mp")
    torch.testing.assert_close(
        torch.as_tensor(axes[1].images[0].get_array()), coded.reconstruction[0].clamp(0, 1).permute(1, 2, 0)
    )
    assert "bits per pixel" in fig._suptitle.get_text()


def test_validation(setting):
    image, dictionary = setting
    with pytest.raises(ValueError, match=r"dictionary must have shape \(K, 3·p²\) = \(K, 48\)"):
        sparsity_explorer(image, dictionary, patch_size=4)
    with pytest.raises(ValueError, match=r"image must be one image \(3, H, W\)"):
        sparsity_explorer(image[None], dictionary, patch_size=2)
    with pytest.raises(ValueError, match=r"sparsity must be an int in \[1, 12\]"):
        sparsity_explorer(image, dictionary, patch_size=2, sparsity=13)
    with pytest.raises(ValueError, match="solver must be one of"):
        sparsity_explorer(image, dictionary, patch_size=2, solver="lars")
    with pytest.raises(TypeError, match="sparsity must be an int"):
        sparsity_explorer(image, dictionary, patch_size=2, sparsity=2.0)
    with pytest.raises(TypeError, match=r"image must be a torch\.Tensor"):
        sparsity_explorer(image.tolist(), dictionary, patch_size=2)
    with pytest.raises(TypeError, match="dictionary must have a floating-point dtype"):
        sparsity_explorer(image, dictionary.long(), patch_size=2)
