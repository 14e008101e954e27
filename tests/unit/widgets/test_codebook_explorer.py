import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from laserlab.bench import threads
from laserlab.widgets import codebook_explorer, codebook_explorer_figure


@pytest.fixture(autouse=True)
def one_thread():
    with threads(1):
        yield
    plt.close("all")


@pytest.fixture
def codebook():
    return torch.rand(16, 12, generator=torch.Generator().manual_seed(0))


def test_switching_method_and_colouring_redraws(codebook):
    usage = torch.arange(16.0)
    explorer = codebook_explorer(codebook, usage=usage, methods=("pca", "tsne"))
    method, coloring = explorer.controls["method"], explorer.controls["coloring"]
    assert coloring.value == "usage" and set(coloring.options) == {"usage", "mean colour", "index"}
    assert list(explorer.embeddings) == ["pca"]
    before = explorer.picture.value
    method.value = "tsne"
    assert explorer.picture.value != before and set(explorer.embeddings) == {"pca", "tsne"}
    before = explorer.picture.value
    coloring.value = "mean colour"
    assert explorer.picture.value != before
    tsne = explorer.embeddings["tsne"]
    method.value = "pca"
    method.value = "tsne"
    assert explorer.embeddings["tsne"] is tsne  # computed once


def test_static_figure_colours(codebook):
    fig = codebook_explorer_figure(codebook, coloring="mean colour")
    colours = fig.axes[0].collections[0].get_facecolors()[:, :3]
    np.testing.assert_allclose(colours, codebook.reshape(16, 3, 4).mean(-1).numpy(), atol=1e-6)
    assert "% of variance" in fig.axes[0].get_title()


def test_validation(codebook):
    with pytest.raises(ValueError, match="coloring must be one of"):
        codebook_explorer(codebook, coloring="usage")  # no usage given
    with pytest.raises(ValueError, match="method must be one of"):
        codebook_explorer(codebook, method="umap", methods=("pca",))
    with pytest.raises(ValueError, match=r"usage must have shape \(K,\) = \(16,\)"):
        codebook_explorer(codebook, usage=torch.ones(3))
    with pytest.raises(TypeError, match=r"usage must be a torch\.Tensor"):
        codebook_explorer(codebook, usage=[1] * 16)
    with pytest.raises(ValueError, match="needs usage"):
        codebook_explorer_figure(codebook, coloring="usage")
