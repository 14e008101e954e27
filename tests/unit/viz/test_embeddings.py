import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from laserlab.bench import threads
from laserlab.sparse.analysis import embed
from laserlab.viz import codebook_embedding, coherence_matrix, distance_histogram


@pytest.fixture(autouse=True)
def one_thread():
    with threads(1):
        yield
    plt.close("all")


@pytest.fixture
def codebook():
    return torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_pca_embedding_labels_carry_the_explained_variance(codebook):
    embedding = embed(codebook, method="pca")
    fig = codebook_embedding(embedding, values=torch.arange(12.0), value_label="usage")
    ax = fig.axes[0]
    first, second = embedding.explained_variance
    assert f"{100 * first:.1f}%" in ax.get_xlabel() and f"{100 * second:.1f}%" in ax.get_ylabel()
    assert f"{100 * (first + second):.1f}% of variance" in ax.get_title()
    np.testing.assert_allclose(ax.collections[0].get_offsets(), embedding.points)
    fig = codebook_embedding(embedding, colors=torch.rand(12, 3))
    assert fig.axes[0].collections[0].get_facecolors().shape == (12, 4)
    with pytest.raises(ValueError, match="give colors or values, not both"):
        codebook_embedding(embedding, colors=torch.rand(12, 3), values=torch.ones(12))
    with pytest.raises(ValueError, match=r"colors must have shape \(K, 3\)"):
        codebook_embedding(embedding, colors=torch.rand(11, 3))


def test_distance_histogram_counts_every_pair(codebook):
    fig = distance_histogram(codebook, bins=10)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 12 * 11 // 2
    assert "66 pairs of 12" in fig.axes[0].get_title()


def test_coherence_matrix_shows_the_coherence(codebook):
    fig = coherence_matrix(codebook)
    drawn = np.asarray(fig.axes[0].images[0].get_array())
    unit = codebook / codebook.norm(dim=1, keepdim=True)
    np.testing.assert_allclose(drawn, (unit @ unit.T).abs().clamp(max=1).numpy(), atol=1e-12)
    mu = (unit @ unit.T).abs().fill_diagonal_(0).max()
    assert f"μ = {float(mu):.3f}" in fig.axes[0].get_title()
