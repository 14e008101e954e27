import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA

from laserlab.sparse import omp
from laserlab.sparse.analysis import (
    code_strength,
    coherence,
    dominant_atom,
    embed,
    mean_colors,
    mutual_coherence,
    pairwise_distances,
    perplexity,
    usage_counts,
    used_fraction,
)
from laserlab.sparse.omp import SparseCode
from laserlab.sparse.rate import quantize_values


@pytest.fixture
def rows():
    return torch.randn(20, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_coherence_and_distances_against_numpy(rows, dtype):
    x = rows.to(dtype)
    unit = rows.numpy() / np.linalg.norm(rows.numpy(), axis=1, keepdims=True)
    expected = np.abs(unit @ unit.T)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(coherence(x).double().numpy(), expected, atol=tolerance)
    np.fill_diagonal(expected, 0)
    assert mutual_coherence(x) == pytest.approx(expected.max(), abs=tolerance)
    np.testing.assert_allclose(pairwise_distances(x).double().numpy(), pdist(rows.numpy()), rtol=tolerance)
    zero = torch.zeros(2, 3)
    assert coherence(zero).tolist() == [[1, 0], [0, 1]]


def test_usage_counts_ignore_empty_slots():
    assert usage_counts(torch.tensor([[0, 2], [2, -1]]), 4).tolist() == [1, 0, 2, 0]
    with pytest.raises(ValueError, match=r"indices must lie in \[0, num_codes\)"):
        usage_counts(torch.tensor([4]), 4)
    with pytest.raises(TypeError, match="indices must be an integer tensor"):
        usage_counts(torch.tensor([1.0]), 4)


@pytest.mark.parametrize(
    ("indices", "num_codes", "expected_perplexity", "expected_used"),
    [
        ([0, 0, 1, 1], 4, 2.0, 0.5),
        ([3, 3, 3, 3, 3], 4, 1.0, 0.25),
        (list(range(8)), 8, 8.0, 1.0),
        ([0, 0, 1, 2], 16, 2**1.5, 3 / 16),  # p = (1/2, 1/4, 1/4): entropy 1.5 bits
        ([], 4, 1.0, 0.0),
    ],
)
def test_perplexity_and_used_fraction_on_hand_made_indices(
    indices, num_codes, expected_perplexity, expected_used
):
    counts = torch.bincount(torch.tensor(indices, dtype=torch.long), minlength=num_codes).double()
    assert perplexity(counts).item() == pytest.approx(expected_perplexity, rel=1e-12)
    assert used_fraction(counts).item() == pytest.approx(expected_used)


def test_code_summaries_on_a_hand_made_code():
    code = SparseCode(
        indices=torch.tensor([[3, 1, -1], [0, 2, 1], [-1, -1, -1]]),
        values=torch.tensor([[0.5, -2.0, 0.0], [1.0, 0.25, -0.5], [0.0, 0.0, 0.0]]),
    )
    assert code.n_active.tolist() == [2, 3, 0]
    assert code_strength(code).tolist() == [2.5, 1.75, 0.0]
    assert dominant_atom(code).tolist() == [1, 0, -1]
    quantized = quantize_values(code, 12)
    assert dominant_atom(quantized).tolist() == [1, 0, -1]
    torch.testing.assert_close(code_strength(quantized), code_strength(code), atol=2e-3, rtol=0)
    with pytest.raises(TypeError, match="code must be a SparseCode"):
        code_strength(code.values)


def test_dominant_atom_of_omp_codes(rows):
    dictionary = torch.nn.functional.normalize(rows[:8], dim=1)
    signals = 3.0 * dictionary[[5, 2]] + 0.1 * dictionary[[0, 7]]
    assert dominant_atom(omp(signals, dictionary, sparsity=2)).tolist() == [5, 2]


def test_mean_colors_follow_the_channel_major_layout():
    patch = torch.stack([torch.full((4,), 0.2), torch.full((4,), 0.5), torch.tensor([0.0, 1.0, 1.0, 2.0])])
    tokens = patch.reshape(1, 12)  # a 2×2 patch, channel-major
    torch.testing.assert_close(mean_colors(tokens), torch.tensor([[0.2, 0.5, 1.0]]))
    with pytest.raises(ValueError, match="C·p² columns"):
        mean_colors(torch.zeros(2, 4))


def test_pca_matches_scikit_learn(rows):
    embedding = embed(rows, method="pca")
    reference = PCA(n_components=2).fit(rows.numpy())
    np.testing.assert_allclose(embedding.explained_variance, reference.explained_variance_ratio_, rtol=1e-10)
    projected = reference.transform(rows.numpy())
    # components are unique up to sign
    signs = np.sign((embedding.points * projected).sum(0))
    np.testing.assert_allclose(embedding.points, projected * signs, atol=1e-10)
    # data on a line: all the variance in the first component
    line = torch.linspace(0, 1, 10, dtype=torch.float64)[:, None] * torch.tensor([[1.0, 2.0, 3.0]])
    assert embed(line).explained_variance == pytest.approx((1.0, 0.0), abs=1e-12)


def test_tsne_is_seeded_and_validation(rows):
    first, second = embed(rows, method="tsne", seed=3), embed(rows, method="tsne", seed=3)
    assert first.points.shape == (20, 2) and first.explained_variance is None
    np.testing.assert_array_equal(first.points, second.points)
    with pytest.raises(ValueError, match="method must be one of"):
        embed(rows, method="mds")
    with pytest.raises(ValueError, match=r"codebook must have shape \(K, M\) with K >= 3"):
        embed(rows[:2])


@pytest.mark.slow
def test_umap_embeds_separated_clusters_apart():
    """UMAP (one call per test run: its first call compiles numba code for ~50 s)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[10.0, 0, 0, 0], [0, 10.0, 0, 0]], dtype=torch.float64)
    rows = torch.cat([c + 0.1 * torch.randn(15, 4, generator=g, dtype=torch.float64) for c in centres])
    points = embed(rows, method="umap", seed=0).points
    assert points.shape == (30, 2)
    a, b = points[:15], points[15:]
    spread = max(np.ptp(a, 0).max(), np.ptp(b, 0).max())
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > spread
