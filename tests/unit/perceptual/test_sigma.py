import math

import pytest
import torch

from laserlab.bench import threads
from laserlab.perceptual import sigma
from laserlab.perceptual.wasserstein import wasserstein_distortion


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads, and on a shared, loaded machine their spin-waits
    make these tests an order of magnitude slower."""
    with threads(1):
        yield


def test_constant():
    log2_sigma = sigma.constant((4, 6), 2.5, dtype=torch.float64)
    assert log2_sigma.shape == (4, 6) and log2_sigma.dtype == torch.float64
    assert torch.all(log2_sigma == 2.5)
    assert sigma.constant(3, 5).shape == (3, 3)  # value == num_levels is allowed
    with pytest.raises(ValueError, match=r"value must be a number in \[0, num_levels\] = \[0, 5\]; got 5.5"):
        sigma.constant(3, 5.5)
    with pytest.raises(ValueError, match="value must be a number"):
        sigma.constant(3, -0.5)
    with pytest.raises(ValueError, match="size must be a positive int or a pair"):
        sigma.constant((3, 0), 1.0)


def test_foveated_is_radial_in_log_eccentricity():
    log2_sigma = sigma.foveated((9, 13), fixation=(4, 6), radius=1.0, num_levels=5, dtype=torch.float64)
    assert log2_sigma[4, 6] == 0  # the fixation point itself: log2(0) clipped to 0
    assert log2_sigma[4, 7] == 0  # d = radius: σ = 1
    assert log2_sigma[4, 8].item() == pytest.approx(1.0)  # d = 2 radius: σ = 2
    assert log2_sigma[0, 6].item() == pytest.approx(2.0)  # d = 4
    assert log2_sigma[1, 2].item() == pytest.approx(math.log2(5.0))  # d = 5 (3-4-5)
    assert torch.equal(log2_sigma, log2_sigma.flip(0))  # symmetric about the fixation row
    capped = sigma.foveated((9, 13), fixation=(4, 6), radius=1.0, max_log2_sigma=1.5)
    assert capped.max().item() == 1.5
    centred = sigma.foveated((5, 7), radius=2.0)
    assert centred[2, 3] == 0 and centred.argmax().item() in (0, 6, 28, 34)  # default fixation: the centre
    with pytest.raises(ValueError, match="radius must be a finite number of pixels > 0"):
        sigma.foveated(8, radius=0)
    with pytest.raises(ValueError, match="fixation must be a pair"):
        sigma.foveated(8, fixation=(1, math.nan))
    with pytest.raises(ValueError, match="max_log2_sigma must be a number in"):
        sigma.foveated(8, max_log2_sigma=6)


def test_from_saliency_maps_one_to_fidelity_and_zero_to_realism():
    saliency = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
    log2_sigma = sigma.from_saliency(saliency, fidelity=1.0, realism=5.0)
    assert log2_sigma.tolist() == [[5.0, 3.0], [1.0, 4.0]]
    mask = torch.tensor([[True, False]])
    assert sigma.from_saliency(mask).tolist() == [[0.0, 5.0]]
    assert sigma.from_saliency(mask, num_levels=3).dtype == torch.float32
    with pytest.raises(ValueError, match=r"saliency must have values in \[0, 1\]"):
        sigma.from_saliency(saliency * 2)
    with pytest.raises(ValueError, match=r"saliency must have shape \(H, W\)"):
        sigma.from_saliency(saliency[None])
    with pytest.raises(TypeError, match=r"saliency must be a torch\.Tensor"):
        sigma.from_saliency([[0.5]])
    with pytest.raises(ValueError, match="realism must be a number in"):
        sigma.from_saliency(saliency, realism=6.0)


def test_gaussian_saliency_is_a_bump_around_the_centre():
    bump = sigma.gaussian_saliency((9, 13), std=2.0, dtype=torch.float64)
    assert bump.shape == (9, 13) and bump.dtype == torch.float64
    assert bump[4, 6].item() == 1.0 and bump.argmax().item() == 4 * 13 + 6
    # exp(-d² / (2·std²)) at d = 2 (two pixels right of the centre) and d² = 3² + 4² (a 3-4-5 corner)
    assert bump[4, 8].item() == pytest.approx(math.exp(-0.5), abs=1e-15)
    assert bump[1, 2].item() == pytest.approx(math.exp(-25 / 8), abs=1e-15)
    torch.testing.assert_close(bump, bump.flip(0).flip(1))  # symmetric about the centre
    shifted = sigma.gaussian_saliency(16, centre=(0, 15))  # default std: 16 / 6 pixels
    assert shifted[0, 15].item() == 1.0
    assert shifted[15, 0].item() == pytest.approx(math.exp(-(2 * 15**2) / (2 * (16 / 6) ** 2)), rel=1e-6)
    log2_sigma = sigma.from_saliency(bump, num_levels=4)
    assert log2_sigma[4, 6].item() == 0.0 and log2_sigma.max().item() < 4
    with pytest.raises(ValueError, match="std must be a finite number in \\(0, inf\\)"):
        sigma.gaussian_saliency(8, std=0)
    with pytest.raises(TypeError, match="centre must be a pair"):
        sigma.gaussian_saliency(8, centre=3)
    with pytest.raises(ValueError, match="centre must be a finite number"):
        sigma.gaussian_saliency(8, centre=(1, math.nan))


def test_from_boxes():
    log2_sigma = sigma.from_boxes((6, 8), [(1, 2, 3, 5), (2, 4, 10, 10)], inside=[4.0, 2.0], outside=1.0)
    expected = torch.full((6, 8), 1.0)
    expected[1:3, 2:5] = 4.0
    expected[2:, 4:] = 2.0  # drawn later, over the first box; clipped to the map
    assert torch.equal(log2_sigma, expected)
    assert sigma.from_boxes(4, [(0, 0, 2, 2)]).sum().item() == 4 * 5  # default inside: num_levels
    with pytest.raises(ValueError, match=r"boxes\[0\] must be \(top, left, bottom, right\)"):
        sigma.from_boxes(4, [(2, 0, 2, 3)])
    with pytest.raises(ValueError, match=r"inside\[1\] must be a number in"):
        sigma.from_boxes(4, [(0, 0, 1, 1), (1, 1, 2, 2)], inside=[1.0, 7.0])
    with pytest.raises(ValueError, match="one level or one per box"):
        sigma.from_boxes(4, [(0, 0, 1, 1)], inside=[1.0, 2.0])


def test_smooth_random_is_seeded_spans_the_range_and_is_smooth():
    first = sigma.smooth_random((48, 64), correlation_length=8.0, seed=3, dtype=torch.float64)
    assert torch.equal(
        first, sigma.smooth_random((48, 64), correlation_length=8.0, seed=3, dtype=torch.float64)
    )
    assert not torch.equal(
        first, sigma.smooth_random((48, 64), correlation_length=8.0, seed=4, dtype=torch.float64)
    )
    assert first.min().item() == 0.0 and first.max().item() == pytest.approx(5.0, abs=1e-12)
    neighbour_step = (first[:, 1:] - first[:, :-1]).abs().mean()
    rough = sigma.smooth_random((48, 64), correlation_length=0.5, seed=3, dtype=torch.float64)
    assert neighbour_step < 0.25 * (rough[:, 1:] - rough[:, :-1]).abs().mean()
    narrow = sigma.smooth_random(16, low=1.0, high=2.0)
    assert narrow.min().item() == pytest.approx(1.0) and narrow.max().item() == pytest.approx(2.0)
    assert sigma.smooth_random(1).item() == 2.5
    with pytest.raises(ValueError, match="low must be <= high"):
        sigma.smooth_random(8, low=3.0, high=2.0)


def test_build_registry_and_check():
    assert torch.equal(sigma.build("constant", size=4, value=1.0), sigma.constant(4, 1.0))
    assert torch.equal(sigma.build("foveated", size=(5, 6), radius=2.0), sigma.foveated((5, 6), radius=2.0))
    mask = torch.ones(3, 3, dtype=torch.bool)
    assert torch.equal(sigma.build("saliency", saliency=mask), torch.zeros(3, 3))
    with pytest.raises(
        ValueError, match=r"sigma map name must be one of \['boxes', 'constant', .*\]; got 'gaussian'"
    ):
        sigma.build("gaussian", size=4)
    with pytest.raises(
        ValueError, match=r"sigma map 'foveated' has no option\(s\) \['radious'\]; valid options"
    ):
        sigma.build("foveated", size=4, radious=2.0)
    with pytest.raises(ValueError, match=r"sigma map 'constant' needs option\(s\) \['value'\]"):
        sigma.build("constant", size=4)
    for kind, options in (("boxes", {"boxes": [(0, 0, 2, 2)]}), ("random", {"seed": 1})):
        sigma.check_log2_sigma(sigma.build(kind, size=8, num_levels=3, **options), num_levels=3)
    with pytest.raises(ValueError, match=r"log2_sigma must have values in \[0, num_levels\] = \[0, 3\]"):
        sigma.check_log2_sigma(sigma.constant(4, 4.0), num_levels=3)


def test_every_map_is_accepted_by_wasserstein_distortion():
    a, b = torch.rand(3, 20, 24), torch.rand(3, 20, 24)
    maps = [
        sigma.constant((20, 24), 5.0),
        sigma.foveated((20, 24), radius=1.0),
        sigma.from_saliency(torch.rand(20, 24)),
        sigma.from_boxes((20, 24), [(0, 0, 10, 10)]),
        sigma.smooth_random((20, 24)),
    ]
    values = [wasserstein_distortion(a, b, m).item() for m in maps]
    assert all(v > 0 and math.isfinite(v) for v in values)
