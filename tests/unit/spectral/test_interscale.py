import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from laserlab.bench import threads
from laserlab.spectral import CrossScalePenalty, cross_scale_redundancy, haar_dwt, haar_idwt, reverse_gradient

# pywavelets is not installed in the venv (and its 'haar' detail bands use other signs and orders), so the
# oracles are written here: a numpy loop over 2×2 blocks, and the "four fixed 2×2 stride-2 filters" form.


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads; on a shared, loaded machine their spin-waits make
    these tests an order of magnitude slower."""
    with threads(1):
        yield


def _haar_loop(x: np.ndarray) -> np.ndarray:
    """(B, C, H, W) → (B, 4C, H/2, W/2), channel 4c + k = sub-band k of channel c, block by block."""
    batch, channels, height, width = x.shape
    out = np.zeros((batch, 4 * channels, height // 2, width // 2))
    for n in range(batch):
        for c in range(channels):
            for i in range(height // 2):
                for j in range(width // 2):
                    a, b = x[n, c, 2 * i, 2 * j], x[n, c, 2 * i, 2 * j + 1]
                    cc, d = x[n, c, 2 * i + 1, 2 * j], x[n, c, 2 * i + 1, 2 * j + 1]
                    bands = (a + b + cc + d, a - b + cc - d, a + b - cc - d, a - b - cc + d)
                    for k, value in enumerate(bands):
                        out[n, 4 * c + k, i, j] = value / 2
    return out


_FILTERS = 0.5 * torch.tensor(
    [[[1, 1], [1, 1]], [[1, -1], [1, -1]], [[1, 1], [-1, -1]], [[1, -1], [-1, 1]]], dtype=torch.float64
)


def _haar_conv(x: torch.Tensor) -> torch.Tensor:
    """Depthwise stride-2 convolution with the four 2×2 Haar filters (output channel 4c + k)."""
    channels = x.shape[1]
    weight = _FILTERS.to(x.dtype).repeat(channels, 1, 1)[:, None]
    return F.conv2d(x, weight, stride=2, groups=channels)


def _rms(z: torch.Tensor) -> torch.Tensor:
    return z / z.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()


def _oracle_penalty(penalty: CrossScalePenalty, latents, *, normalize: bool, detach_weights: bool):
    """Σ over pairs of mean((coarse − W·haar(fine) − b)²), the 1×1 prediction built with F.conv2d."""
    total = 0
    for predictor, fine, coarse in zip(penalty.predictors, latents[:-1], latents[1:], strict=True):
        if normalize:
            fine, coarse = _rms(fine), _rms(coarse)
        weight, bias = predictor.weight, predictor.bias
        if detach_weights:
            weight, bias = weight.detach(), bias.detach()
        prediction = F.conv2d(_haar_conv(fine), weight, bias)
        total = total + (coarse - prediction).square().mean()
    return total


def _latents(shapes, *, seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_(requires_grad)
        for shape in shapes
    ]


SHAPES = [(2, 3, 16, 12), (2, 5, 8, 6), (2, 2, 4, 3)]


# ---------------------------------------------------------------------------------------------- DWT


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 6, 10), (1, 1, 2, 2)])
def test_haar_dwt_matches_the_block_loop(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    bands = haar_dwt(x)
    assert bands.shape == (shape[0], 4 * shape[1], shape[2] // 2, shape[3] // 2)
    np.testing.assert_allclose(bands.numpy(), _haar_loop(x.numpy()), atol=1e-14, rtol=0)
    torch.testing.assert_close(bands, _haar_conv(x), atol=1e-14, rtol=0)


def test_channel_order_is_the_documented_one():
    # channel 4c + k: k = 0 LL, 1 horizontal detail (columns differ), 2 vertical (rows differ), 3 diagonal
    columns_differ = torch.tensor([[1.0, -1.0], [1.0, -1.0]]).repeat(2, 2)[None, None]
    rows_differ = torch.tensor([[1.0, 1.0], [-1.0, -1.0]]).repeat(2, 2)[None, None]
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(2, 2)[None, None]
    flat = torch.ones(1, 1, 4, 4)
    for k, pattern in enumerate((flat, columns_differ, rows_differ, checker)):
        two_channels = torch.cat([torch.zeros_like(pattern), pattern], dim=1)
        bands = haar_dwt(two_channels)
        energy = bands.square().sum(dim=(0, 2, 3))
        expected = torch.zeros(8)
        expected[4 + k] = 16.0  # all energy in sub-band k of input channel 1, none in channel 0's bands
        torch.testing.assert_close(energy, expected)
        assert (bands[0, 4 + k] == 2.0).all()


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_perfect_reconstruction_and_energy(dtype, tolerance):
    x = torch.randn(3, 4, 16, 10, generator=torch.Generator().manual_seed(2), dtype=dtype)
    bands = haar_dwt(x)
    assert bands.dtype == dtype
    assert (haar_idwt(bands) - x).abs().max() <= tolerance
    assert (haar_dwt(haar_idwt(bands)) - bands).abs().max() <= tolerance
    torch.testing.assert_close(bands.square().sum(), x.square().sum())


def test_dwt_gradient_is_the_inverse_transform():
    # orthonormal: the adjoint of the DWT is its inverse, so d<dwt(x), w>/dx = idwt(w)
    x = torch.randn(2, 3, 8, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 12, 4, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad((haar_dwt(x) * w).sum(), x)
    torch.testing.assert_close(grad, haar_idwt(w))


@pytest.mark.parametrize("shape", [(1, 1, 7, 8), (1, 1, 8, 5), (2, 3, 3, 3)])
def test_dwt_wants_even_sizes(shape):
    with pytest.raises(ValueError, match="x must have even height and width"):
        haar_dwt(torch.zeros(shape))


def test_dwt_and_idwt_bad_input():
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        haar_dwt(torch.zeros(4, 8, 8))
    with pytest.raises(TypeError, match="x"):
        haar_dwt(torch.zeros(1, 1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"bands must have shape \(B, 4C, h, w\)"):
        haar_idwt(torch.zeros(4, 4, 4))
    with pytest.raises(ValueError, match="bands must have 4C channels"):
        haar_idwt(torch.zeros(1, 6, 4, 4))


# --------------------------------------------------------------------------------- gradient reversal


@pytest.mark.parametrize("scale", [0.1, 1.0, 2.5])
def test_reverse_gradient(scale):
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = reverse_gradient(x, scale)
    assert torch.equal(y, x)

    def f(z):
        return (torch.sin(z) * z.square()).sum()

    (reversed_grad,) = torch.autograd.grad(f(reverse_gradient(x, scale)), x)
    (plain_grad,) = torch.autograd.grad(f(x), x)
    torch.testing.assert_close(reversed_grad, -scale * plain_grad)
    expected = torch.cos(x) * x.square() + 2 * x * torch.sin(x)  # by hand
    torch.testing.assert_close(reversed_grad, -scale * expected.detach())


def test_reverse_gradient_with_zero_scale_blocks_the_gradient():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(reverse_gradient(x, 0.0).square().sum(), x)
    assert torch.equal(grad.abs(), torch.zeros(5, dtype=torch.float64))


# ----------------------------------------------------------------------------------------- penalty


@pytest.mark.parametrize("normalize", [False, True])
def test_penalty_is_the_hand_computed_mse(normalize):
    torch.manual_seed(0)
    penalty = CrossScalePenalty([3, 5, 2], normalize=normalize).double()
    latents = _latents(SHAPES)
    value = penalty(latents)
    assert value.ndim == 0 and value.item() >= 0
    expected = _oracle_penalty(penalty, latents, normalize=normalize, detach_weights=True)
    torch.testing.assert_close(value, expected, rtol=1e-5 if normalize else 1e-12, atol=0)


def test_normalized_penalty_ignores_the_latents_scale():
    torch.manual_seed(0)
    penalty = CrossScalePenalty([3, 5], normalize=True).double()
    fine, coarse = _latents(SHAPES[:2])
    value = penalty([fine, coarse]).item()
    per_image = torch.tensor([3.0, 0.4], dtype=torch.float64)[:, None, None, None]
    for scaled in ([10 * fine, coarse], [fine, 0.25 * coarse], [per_image * fine, 5 * coarse]):
        assert penalty(scaled).item() == pytest.approx(value, rel=1e-4)
    plain = CrossScalePenalty([3, 5], normalize=False).double()
    assert plain([fine, 4 * coarse]).item() > 2 * plain([fine, coarse]).item()


@pytest.mark.parametrize(("normalize", "drop"), [(False, 0.01), (True, 0.05)])
def test_predictor_learns_a_linear_cross_scale_map(normalize, drop):
    generator = torch.Generator().manual_seed(0)
    fine = torch.randn(8, 4, 8, 8, generator=generator)
    mapping = torch.randn(3, 16, 1, 1, generator=generator) / 4
    source = _rms(fine) if normalize else fine
    coarse = F.conv2d(_haar_conv(source), mapping) + 1e-3 * torch.randn(8, 3, 4, 4, generator=generator)
    torch.manual_seed(0)
    penalty = CrossScalePenalty([4, 3], normalize=normalize)
    optimizer = torch.optim.Adam(penalty.parameters(), lr=0.02)
    losses = []
    for _ in range(300):
        loss = penalty([fine, coarse])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < drop * losses[0]


@pytest.mark.parametrize("normalize", [False, True])
def test_codec_receives_the_negated_scaled_gradient(normalize):
    torch.manual_seed(1)
    delta = 0.3
    penalty = CrossScalePenalty([3, 5, 2], delta=delta, normalize=normalize).double()
    latents = _latents(SHAPES, requires_grad=True)
    grads = torch.autograd.grad(penalty(latents), latents)
    oracle = _oracle_penalty(penalty, latents, normalize=normalize, detach_weights=True)
    plain = torch.autograd.grad(oracle, latents)
    for got, reference in zip(grads, plain, strict=True):
        assert reference.abs().max() > 1e-6
        # normalize=True: the implementation's RMS carries a tiny epsilon (1e-6 under the root) the oracle
        # leaves out, hence a tolerance relative to the largest entry
        atol = 1e-5 * float(reference.abs().max()) if normalize else 1e-14
        torch.testing.assert_close(got, -delta * reference, rtol=1e-4 if normalize else 1e-10, atol=atol)


def test_inactive_penalty_trains_only_the_predictors():
    torch.manual_seed(2)
    penalty = CrossScalePenalty([3, 5, 2], delta=0.1, normalize=False).double()
    penalty.active = False
    latents = _latents(SHAPES, requires_grad=True)
    value = penalty(latents)
    value.backward()
    for z in latents:
        assert z.grad is not None and torch.count_nonzero(z.grad) == 0
    detached = [z.detach() for z in latents]
    oracle = _oracle_penalty(penalty, detached, normalize=False, detach_weights=False)
    parameters = list(penalty.parameters())
    expected = torch.autograd.grad(oracle, parameters)
    for parameter, reference in zip(parameters, expected, strict=True):
        assert parameter.grad.abs().max() > 0
        torch.testing.assert_close(parameter.grad, reference, rtol=1e-10, atol=1e-14)


def test_active_penalty_still_trains_the_predictors_to_minimise():
    torch.manual_seed(3)
    penalty = CrossScalePenalty([3, 5], delta=0.1, normalize=False).double()
    latents = _latents(SHAPES[:2], requires_grad=True)
    penalty(latents).backward()
    oracle = _oracle_penalty(penalty, [z.detach() for z in latents], normalize=False, detach_weights=False)
    expected = torch.autograd.grad(oracle, list(penalty.parameters()))
    for parameter, reference in zip(penalty.parameters(), expected, strict=True):
        torch.testing.assert_close(parameter.grad, reference, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("channels", "match"),
    [
        ([4], "channels must list"),
        ((), "channels must list"),
        (4, "channels must list"),
        ([4, 0], r"channels\[i\]"),
    ],
)
def test_bad_channels(channels, match):
    with pytest.raises(ValueError, match=match):
        CrossScalePenalty(channels)


@pytest.mark.parametrize("delta", [-0.1, math.nan, math.inf])
def test_bad_delta(delta):
    with pytest.raises(ValueError, match="delta"):
        CrossScalePenalty([2, 2], delta=delta)


def test_delta_zero_is_allowed():
    penalty = CrossScalePenalty([2, 2], delta=0)
    latents = _latents([(1, 2, 4, 4), (1, 2, 2, 2)], requires_grad=True)
    latents = [z.float().detach().requires_grad_(True) for z in latents]
    penalty(latents).backward()
    assert all(torch.count_nonzero(z.grad) == 0 for z in latents)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        ([(1, 3, 8, 8)], "latents must be a list of 2"),
        ([(1, 3, 8, 8), (1, 5, 4, 4), (1, 5, 2, 2)], "latents must be a list of 2"),
        ([(1, 4, 8, 8), (1, 5, 4, 4)], r"latents\[0\] must have 3 channels"),
        ([(1, 3, 8, 8), (1, 3, 4, 4)], r"latents\[1\] must have 5 channels"),
        ([(1, 3, 8, 8), (1, 5, 3, 3)], r"latents\[1\] must be latents\[0\] at half"),
        ([(1, 3, 7, 7), (1, 5, 3, 3)], r"latents\[1\] must be latents\[0\] at half"),
        ([(1, 3, 8, 8), (1, 5, 4, 8)], r"latents\[1\] must be latents\[0\] at half"),
        ([(1, 3, 8, 8), (2, 5, 4, 4)], r"latents\[1\].*same batch"),
        ([(3, 8, 8), (1, 5, 4, 4)], r"latents\[0\] must have shape \(B, C, H, W\)"),
    ],
)
def test_bad_latents(shapes, match):
    penalty = CrossScalePenalty([3, 5])
    with pytest.raises(ValueError, match=match):
        penalty([torch.zeros(shape) for shape in shapes])


def test_latents_must_be_a_sequence_of_float_tensors():
    penalty = CrossScalePenalty([3, 5])
    with pytest.raises(ValueError, match="latents must be a list"):
        penalty(torch.zeros(2, 3, 8, 8))
    with pytest.raises(TypeError, match=r"latents\[1\]"):
        penalty([torch.zeros(1, 3, 8, 8), torch.zeros(1, 5, 4, 4, dtype=torch.long)])


def test_cross_scale_redundancy_is_one_for_an_affine_map_and_matches_a_numpy_fit():
    generator = torch.Generator().manual_seed(5)
    fine = torch.randn(6, 3, 8, 8, generator=generator, dtype=torch.float64)
    mixing = torch.randn(2, 12, generator=generator, dtype=torch.float64)
    coarse = torch.einsum("oc,bchw->bohw", mixing, haar_dwt(fine)) + 0.3
    assert cross_scale_redundancy([fine, coarse]) == pytest.approx([1.0], abs=1e-9)
    # independent oracle: numpy least squares with an intercept on a noisy coarse latent
    noisy = coarse + torch.randn(coarse.shape, generator=generator, dtype=torch.float64)
    bands = haar_dwt(fine).permute(0, 2, 3, 1).reshape(-1, 12).numpy()
    design = np.hstack([bands, np.ones((bands.shape[0], 1))])
    target = noisy.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
    fitted = design @ np.linalg.lstsq(design, target, rcond=None)[0]
    expected = 1 - ((target - fitted) ** 2).sum() / ((target - target.mean(0)) ** 2).sum()
    (score,) = cross_scale_redundancy([fine, noisy])
    assert score == pytest.approx(expected, abs=1e-12)
    assert 0.3 < score < 0.99


def test_cross_scale_redundancy_rejects_bad_pyramids():
    fine = torch.randn(4, 3, 8, 8)
    with pytest.raises(ValueError, match="list of 2 or more tensors"):
        cross_scale_redundancy([fine])
    with pytest.raises(ValueError, match=r"latents\[1\] must be latents\[0\] at half"):
        cross_scale_redundancy([fine, torch.randn(4, 2, 3, 3)])
    with pytest.raises(ValueError, match="use a larger batch"):
        cross_scale_redundancy([torch.randn(1, 8, 4, 4), torch.randn(1, 2, 2, 2)])


def test_normalize_must_be_a_bool():
    with pytest.raises(TypeError, match="normalize must be True or False"):
        CrossScalePenalty([4, 2], normalize="no")


@pytest.mark.parametrize("shape", [(1, 2, 0, 0), (0, 2, 4, 4), (1, 0, 4, 4)])
def test_dwt_rejects_zero_size_inputs(shape):
    with pytest.raises(ValueError, match=r"x must not be empty"):
        haar_dwt(torch.zeros(shape))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_dwt_rejects_non_finite_inputs(bad):
    x = torch.zeros(1, 2, 4, 4)
    x[0, 1, 2, 3] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        haar_dwt(x)
    with pytest.raises(ValueError, match="bands must be finite"):
        haar_idwt(torch.cat([x, x], 1))
