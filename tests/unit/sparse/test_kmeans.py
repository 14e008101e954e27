"""k-means (both starts) and the nearest-codeword search, against brute force and scikit-learn."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sparse_data import unit_rows

from laserlab.sparse import KMeansResult, kmeans, nearest_codeword


def _rows(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _blobs(n_per_cluster, centers, *, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.as_tensor(centers, dtype=torch.float64)
    points = centers.repeat_interleave(n_per_cluster, 0)
    return points + spread * torch.randn(points.shape, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------ nearest codeword
@pytest.mark.parametrize(("n", "k", "d"), [(300, 16, 3), (2000, 512, 8), (5, 1, 2)])
def test_nearest_codeword_equals_brute_force_argmin(n, k, d):
    x = _rows(n, d, seed=1, dtype=torch.float64)
    codebook = _rows(k, d, seed=2, dtype=torch.float64)
    brute = (x[:, None, :] - codebook[None]).square().sum(-1).argmin(1)
    assert torch.equal(nearest_codeword(x, codebook), brute)  # (2000, 512) runs in several blocks


def test_nearest_codeword_float32_agrees_with_cdist():
    x, codebook = _rows(4096, 64, seed=3), _rows(512, 64, seed=4)
    ours, reference = nearest_codeword(x, codebook), torch.cdist(x, codebook).argmin(1)
    differ = ours != reference
    assert differ.float().mean() < 1e-3  # only near-ties may differ in float32
    if differ.any():
        d = torch.cdist(x[differ].double(), codebook.double())
        rows = torch.arange(int(differ.sum()))
        assert torch.allclose(d[rows, ours[differ]], d[rows, reference[differ]], rtol=1e-5)


def test_nearest_codeword_ties_go_to_the_lowest_index():
    codebook = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert nearest_codeword(torch.tensor([[2.0, 0.0], [0.0, 5.0]]), codebook).tolist() == [0, 0]


# ------------------------------------------------------------------ random-row start (VQ codebooks)
def test_random_start_lloyd_steps_match_sklearn():
    data = _blobs(40, [[0, 0, 0], [3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 3, 3]], spread=0.6, seed=1)
    start = kmeans(data, 5, iterations=0, start="random", generator=torch.Generator().manual_seed(4))
    ours = kmeans(data, 5, iterations=20, start="random", generator=torch.Generator().manual_seed(4))
    assert isinstance(ours, KMeansResult)
    reference = KMeans(5, init=start.centroids.numpy(), n_init=1, max_iter=20, tol=0, algorithm="lloyd").fit(
        data.numpy()
    )
    np.testing.assert_allclose(ours.centroids.numpy(), reference.cluster_centers_, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours.counts.numpy(), np.bincount(reference.labels_, minlength=5))


def test_random_start_handles_fewer_rows_than_clusters_and_spherical():
    rows = _blobs(1, [[1, 0], [0, 1], [-1, 0]], spread=0.0)
    result = kmeans(rows, 8, start="random", generator=torch.Generator().manual_seed(0))
    assert result.centroids.shape == (8, 2) and result.counts.sum() == 3
    assert torch.unique(result.centroids, dim=0).shape[0] == 8  # jittered, not duplicated
    unit = F.normalize(_rows(50, 3, seed=2, dtype=torch.float64), dim=1)
    spherical = kmeans(unit, 4, start="random", spherical=True, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(spherical.centroids.norm(dim=1), torch.ones(4, dtype=torch.float64))


# ------------------------------------------------------------------ k-means++ start (dictionaries)
def test_kmeans_plus_plus_lloyd_steps_match_sklearn_from_the_same_seeds():
    generator = torch.Generator().manual_seed(5)
    centres = torch.randn(8, 5, dtype=torch.float64, generator=generator) * 4
    signals = centres.repeat(50, 1) + torch.randn(400, 5, dtype=torch.float64, generator=generator)
    seeds = kmeans(signals, 8, iterations=0, generator=torch.Generator().manual_seed(0)).centroids
    # k-means++ seeds are data points and, on well-separated clusters, one per cluster.
    assert (seeds[:, None] == signals[None]).all(-1).any(1).all()
    assert len(set(torch.cdist(seeds, centres).argmin(dim=1).tolist())) == 8
    ours = kmeans(signals, 8, iterations=5, generator=torch.Generator().manual_seed(0))
    reference = KMeans(8, init=seeds.numpy(), n_init=1, max_iter=5, tol=0, algorithm="lloyd").fit(
        signals.numpy()
    )
    torch.testing.assert_close(
        ours.centroids, torch.from_numpy(reference.cluster_centers_), rtol=0, atol=1e-10
    )
    np.testing.assert_array_equal(ours.counts.numpy(), np.bincount(reference.labels_, minlength=8))
    unit = kmeans(signals, 8, iterations=0, normalize=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(unit.centroids, unit_rows(seeds))


def test_a_generator_on_another_device_than_cpu_draws_there():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    signals = _rows(200, 4, seed=6).cuda()
    for start in ("kmeans++", "random"):
        result = kmeans(signals, 8, start=start, generator=torch.Generator(device="cuda").manual_seed(0))
        assert result.centroids.device.type == "cuda"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: kmeans(torch.randn(5, 3), 6), ValueError, "num_clusters must be at most .* N = 5"),
        (lambda: kmeans(torch.randn(5), 2), ValueError, "signals"),
        (lambda: kmeans(torch.zeros(0, 3), 2), ValueError, "N, M >= 1"),
        (lambda: kmeans(torch.ones(5, 3, dtype=torch.long), 2), TypeError, "signals"),
        (lambda: kmeans(torch.randn(5, 3), 2, iterations=-1), ValueError, "iterations"),
        (lambda: kmeans(torch.randn(5, 3), 2, start="first"), ValueError, "start must be one of"),
        (lambda: kmeans(torch.randn(5, 3), 2, normalize=1), TypeError, "normalize must be a bool"),
        (lambda: kmeans(torch.full((5, 3), float("nan")), 2), ValueError, "signals must be finite"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
