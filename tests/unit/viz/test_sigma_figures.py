import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from laserlab.bench import threads
from laserlab.perceptual import sigma
from laserlab.perceptual.wasserstein import wasserstein_distortion
from laserlab.viz import sigma_maps, wasserstein_levels


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads, and on a shared, loaded machine their spin-waits
    make these tests an order of magnitude slower."""
    with threads(1):
        yield


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_sigma_gallery_shares_one_scale():
    maps = {
        "constant": sigma.constant(16, 2.0),
        "foveated": sigma.foveated(16, radius=2.0),
        "random": sigma.smooth_random(16),
    }
    fig = sigma_maps(maps, num_levels=5, ncols=2)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    assert {im.get_clim() for im in images} == {(0, 5)}
    assert [ax.get_title() for ax in fig.axes if ax.images] == list(maps)
    plt.close(fig)
    with pytest.raises(ValueError, match="maps must hold at least one"):
        sigma_maps({})
    with pytest.raises(ValueError, match=r"maps\['x'\] must be a tensor \(H, W\)"):
        sigma_maps({"x": torch.zeros(1, 4, 4)})
    with pytest.raises(TypeError, match=r"maps\['x'\] must be a tensor \(H, W\); got list"):
        sigma_maps({"x": [[0.0]]})


def test_wasserstein_levels_draws_maps_weights_and_terms():
    a, b = torch.rand(3, 24, 20), torch.rand(3, 24, 20)
    log2_sigma = sigma.foveated((24, 20), radius=2.0, num_levels=3)
    dist, inter = wasserstein_distortion(a, b, log2_sigma, num_levels=3, return_intermediates=True)
    fig = wasserstein_levels(inter, image_a=a, image_b=b, log2_sigma=log2_sigma, distortion=dist.item())
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles[:3] == ["image a", "image b", "log2 σ"]
    terms = [float(t) for t in inter.level_terms()]
    assert titles[3:7] == [f"level {i}\n{terms[i]:.4g}" for i in range(4)]
    assert titles[7:] == [f"weight {i}" for i in range(4)]
    assert sum(terms) == pytest.approx(dist.item(), rel=1e-5)
    assert f"{dist.item():.5g}" in fig._suptitle.get_text()
    plt.close(fig)


def test_wasserstein_levels_picks_a_batch_sample():
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    b[1] = a[1]
    _, inter = wasserstein_distortion(
        a, b, torch.full((16, 16), 1.0), num_levels=2, return_intermediates=True
    )
    first, second = wasserstein_levels(inter, index=0), wasserstein_levels(inter, index=1)
    assert not np.array_equal(_pixels(first), _pixels(second))
    assert "Distortion 0 " in second._suptitle.get_text()
    plt.close("all")
