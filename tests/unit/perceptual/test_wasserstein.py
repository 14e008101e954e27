"""Wasserstein Distortion against the CoDeX reference fixture, a NumPy re-implementation, autograd
through the composable primitives, and hand-computed cases (documented in laserlab.perceptual.wasserstein)."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from laserlab import usage
from laserlab.bench import threads
from laserlab.perceptual import backbones
from laserlab.perceptual.wasserstein import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    WassersteinDistortion,
    lower_limit,
    lowpass,
    multi_wasserstein_distortion,
    multiscale_stats,
    resize_log2_sigma,
    safe_sqrt,
    vgg16_features,
    vgg16_wasserstein_distortion,
    wasserstein_distortion,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads, and on a shared, loaded machine their spin-waits
    make these tests an order of magnitude slower."""
    with threads(1):
        yield


FIXTURE = Path(os.environ.get("LASERLAB_FIXTURES_DIR") or Path(__file__).parents[2] / "fixtures")
SINGLE_CASES = ["a", "b", "e", "f", "f2"]


@pytest.fixture(scope="module")
def reference():
    return np.load(FIXTURE / "wasserstein_reference.npz")


def _tensor(ref, key, dtype, requires_grad=False):
    return torch.from_numpy(np.asarray(ref[key])).to(dtype).requires_grad_(requires_grad)


def _close(actual: torch.Tensor, expected: np.ndarray, *, atol: float, rtol: float = 0.0):
    np.testing.assert_allclose(
        actual.detach().double().numpy(), np.asarray(expected, np.float64), rtol=rtol, atol=atol
    )


# --------------------------------------------------------------------------------------------------
# Fixture cases


@pytest.mark.parametrize("case", SINGLE_CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_single_array_cases_match_the_reference(reference, case, dtype):
    suffix = "f64" if dtype == torch.float64 else "f32"
    assert str(reference[f"{case}/kind"]) == "single"
    a = _tensor(reference, f"{case}/features_a", dtype)
    b = _tensor(reference, f"{case}/features_b", dtype, requires_grad=True)
    sigma = _tensor(reference, f"{case}/log2_sigma", dtype)
    options = dict(
        num_levels=int(reference[f"{case}/num_levels"]),
        sqrt_grad_limit=float(reference[f"{case}/sqrt_grad_limit"]),
    )
    dist, inter = wasserstein_distortion(a, b, sigma, return_intermediates=True, **options)
    (grad,) = torch.autograd.grad(wasserstein_distortion(a, b, sigma, **options), b)
    assert dist.shape == () and dist.dtype == dtype
    assert len(inter.wd_maps) == len(inter.weights) == options["num_levels"] + 1
    expected_grad = reference[f"{case}/grad_b_{suffix}"]
    if dtype == torch.float64:
        _close(dist, reference[f"{case}/dist_f64"], rtol=1e-12, atol=1e-300)
        _close(grad, expected_grad, atol=1e-11 if case == "f" else 1e-13)
        for i in range(options["num_levels"] + 1):
            _close(inter.wd_maps[i], reference[f"{case}/wd_maps_f64/{i}"], atol=1e-13)
            _close(inter.weights[i], reference[f"{case}/weights_f64/{i}"], atol=1e-13)
    else:
        _close(dist, reference[f"{case}/dist_f32"], rtol=1e-6, atol=1e-30)
        if case == "f":  # round-off × the 1e6 sqrt cap: finiteness and bound only (notes §9)
            assert torch.isfinite(grad).all()
            assert grad.abs().max() <= 2 * np.abs(reference["f/grad_b_f64"]).max()
        else:
            _close(grad, expected_grad, atol=1e-5 * max(np.abs(expected_grad).max(), 1e-30))
        for i in range(options["num_levels"] + 1):
            _close(inter.wd_maps[i], reference[f"{case}/wd_maps_f32/{i}"], rtol=1e-5, atol=1e-5)
            _close(inter.weights[i], reference[f"{case}/weights_f32/{i}"], atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_multi_array_case_matches_the_reference(reference, dtype):
    suffix = "f64" if dtype == torch.float64 else "f32"
    n = int(reference["g/num_arrays"])
    features_a = [_tensor(reference, f"g/features_a/{j}", dtype) for j in range(n)]
    features_b = [_tensor(reference, f"g/features_b/{j}", dtype, requires_grad=True) for j in range(n)]
    sigma = _tensor(reference, "g/log2_sigma", dtype)
    options = dict(
        num_levels=int(reference["g/num_levels"]), sqrt_grad_limit=float(reference["g/sqrt_grad_limit"])
    )
    dist, inter = multi_wasserstein_distortion(
        features_a, features_b, sigma, return_intermediates=True, **options
    )
    grads = torch.autograd.grad(
        multi_wasserstein_distortion(features_a, features_b, sigma, **options), features_b
    )
    strict = dtype == torch.float64
    _close(dist, reference[f"g/dist_{suffix}"], rtol=1e-12 if strict else 1e-6, atol=1e-30)
    _close(
        torch.stack(inter.distortions), reference[f"g/dist_parts_{suffix}"], atol=1e-13 if strict else 1e-6
    )
    for j in range(n):
        expected_sigma = reference[f"g/resized_log2_sigma_{suffix}/{j}"]
        _close(inter.log2_sigmas[j], expected_sigma, atol=1e-13 if strict else 1e-5)
        _close(
            resize_log2_sigma(sigma, tuple(features_a[j].shape[-2:])),
            expected_sigma,
            atol=1e-13 if strict else 1e-5,
        )
        expected_grad = reference[f"g/grad_b_{suffix}/{j}"]
        _close(grads[j], expected_grad, atol=1e-13 if strict else 1e-5 * np.abs(expected_grad).max())
        for i in range(options["num_levels"] + 1):
            maps = reference[f"g/wd_maps_{suffix}/{j}/{i}"]
            _close(inter.wd_maps[j][i], maps, atol=1e-13) if strict else _close(
                inter.wd_maps[j][i], maps, rtol=1e-5, atol=1e-5
            )
            _close(
                inter.weights[j][i], reference[f"g/weights_{suffix}/{j}/{i}"], atol=1e-13 if strict else 1e-5
            )


# --------------------------------------------------------------------------------------------------
# Independent oracles for sizes, levels and limits the fixture lacks


def _np_lowpass(x: np.ndarray, stride: int) -> np.ndarray:
    """The reference's lowpass on (B, H, W), written from XLA's 'SAME' rule with explicit window sums."""
    kernel = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])
    pads, outs = [], []
    for n in x.shape[1:]:
        out = -(-n // stride)
        total = max((out - 1) * stride + 3 - n, 0)
        pads.append((total // 2, total - total // 2))
        outs.append(out)
    padded = np.pad(x, ((0, 0), *pads))
    result = np.zeros((x.shape[0], *outs))
    for u in range(3):
        for v in range(3):
            result += (
                kernel[u, v] * padded[:, u : u + stride * outs[0] : stride, v : v + stride * outs[1] : stride]
            )
    return result


def _np_wasserstein(a: np.ndarray, b: np.ndarray, sigma: np.ndarray, num_levels: int):
    def stats(f):
        means, variances, squared = [], [], f**2
        for _ in range(num_levels):
            m, p = _np_lowpass(f, 1), _np_lowpass(squared, 1)
            means.append(m)
            variances.append(p - m**2)
            f, squared = m[:, ::2, ::2], p[:, ::2, ::2]
        return means, variances

    (ma, va), (mb, vb) = stats(a), stats(b)
    maps = [(a - b) ** 2] + [
        (x - y) ** 2 + (np.sqrt(np.maximum(u, 0)) - np.sqrt(np.maximum(v, 0))) ** 2
        for x, y, u, v in zip(ma, mb, va, vb, strict=True)
    ]
    dist, weights = 0.0, []
    for i, wd_map in enumerate(maps):
        weight = np.maximum(1 - np.abs(sigma - i), 0)
        weights.append(weight)
        dist += np.mean(weight * wd_map)
        if i > 0:
            sigma = _np_lowpass(sigma[None], 2)[0]
    return dist, maps, weights


def _composed(fa, fb, sigma, num_levels, limit):
    """The reference's structure with autograd through the public primitives (lowpass, lower_limit,
    safe_sqrt): the oracle for the fused level function's hand-written backward."""

    def stats(f):
        out, x, q = [], f, f * f
        for _ in range(num_levels):
            m, p = lowpass(x, 1), lowpass(q, 1)
            out.append((m, p - m * m))
            x, q = m[..., ::2, ::2], p[..., ::2, ::2]
        return out

    maps = [(fa - fb) ** 2]
    for (ma, va), (mb, vb) in zip(stats(fa), stats(fb), strict=True):
        sa, sb = safe_sqrt(lower_limit(va, 0.0), limit), safe_sqrt(lower_limit(vb, 0.0), limit)
        maps.append((ma - mb) ** 2 + (sa - sb) ** 2)
    dist = torch.zeros((), dtype=fa.dtype)
    for i, wd_map in enumerate(maps):
        dist = dist + (torch.relu(1 - (sigma - i).abs()) * wd_map).mean()
        if i > 0:
            sigma = lowpass(sigma, 2)
    return dist


def _random_case(shape, num_levels, seed, *, flat=False):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=g, dtype=torch.float64)
    b = torch.randn(shape, generator=g, dtype=torch.float64)
    if flat:  # b constant per channel: exactly zero interior variance, the sqrt cap is active
        b = torch.arange(shape[0], dtype=torch.float64).sub(1.5).view(-1, 1, 1).expand(shape).contiguous()
    sigma = torch.rand(shape[-2:], generator=g, dtype=torch.float64) * num_levels
    return a, b, sigma


@pytest.mark.parametrize(
    ("shape", "num_levels"),
    [((3, 37, 53), 3), ((2, 17, 9), 6), ((4, 1, 7), 2), ((5, 20, 20), 5), ((1, 33, 65), 4)],
)
def test_odd_sizes_and_other_levels_match_a_numpy_reimplementation(shape, num_levels):
    a, b, sigma = _random_case(shape, num_levels, seed=sum(shape))
    dist, inter = wasserstein_distortion(a, b, sigma, num_levels=num_levels, return_intermediates=True)
    expected, maps, weights = _np_wasserstein(a.numpy(), b.numpy(), sigma.numpy(), num_levels)
    assert abs(dist.item() - expected) <= 1e-13 * abs(expected)
    for ours, theirs in zip(inter.wd_maps, maps, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=1e-13)
    for ours, theirs in zip(inter.weights, weights, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("shape", "num_levels", "limit", "flat"),
    [
        ((3, 37, 53), 3, 1e6, False),
        ((6, 24, 31), 5, 10.0, True),
        ((2, 19, 19), 4, 1e3, True),
        ((4, 16, 40), 6, 1e6, False),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_gradients_match_autograd_through_the_primitives(shape, num_levels, limit, flat, dtype):
    a, b, sigma = _random_case(shape, num_levels, seed=len(shape) + num_levels, flat=flat)
    a, b, sigma = a.to(dtype), b.to(dtype), sigma.to(dtype)
    ours_a, ours_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    dist = wasserstein_distortion(ours_a, ours_b, sigma, num_levels=num_levels, sqrt_grad_limit=limit)
    dist.backward()
    ref_a, ref_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    expected = _composed(ref_a, ref_b, sigma, num_levels, limit)
    expected.backward()
    if dtype == torch.float64:
        assert abs(dist.item() - expected.item()) <= 1e-13 * abs(expected.item())
        torch.testing.assert_close(ours_a.grad, ref_a.grad, rtol=0, atol=1e-12)
        torch.testing.assert_close(ours_b.grad, ref_b.grad, rtol=0, atol=1e-12)
    elif not flat:  # flat float32 gradients are round-off × the cap, as in fixture case f
        torch.testing.assert_close(
            ours_b.grad, ref_b.grad, rtol=1e-4, atol=1e-5 * ref_b.grad.abs().max().item()
        )


def test_gradient_reaches_sigma_and_features_a():
    a, b, sigma = _random_case((2, 9, 7), 3, seed=3)
    sigma = (sigma * 0.9 + 0.2).requires_grad_()
    a.requires_grad_()
    torch.autograd.gradcheck(
        lambda x, s: wasserstein_distortion(x, b, s, num_levels=3), (a, sigma), atol=1e-6, fast_mode=True
    )


# --------------------------------------------------------------------------------------------------
# Hand-checkable facts (notes §2–§8)


def test_lowpass_same_padding_examples():
    ramp = torch.arange(8, dtype=torch.float64)
    ones = torch.ones(8, dtype=torch.float64)
    # stride 2, even size: 0 before, 1 after, output j centred on input 2j + 1
    rows = lowpass(ramp[:, None] * ones[None, :], 2)
    assert rows[:, 1].tolist() == [1.0, 3.0, 5.0, 5.0]  # column 1 is centred on interior column 3
    # stride 1 then even samples: centred on 2j
    assert lowpass(ramp[:, None] * ones[None, :], 1)[::2, 3].tolist() == [0.25, 2.0, 4.0, 6.0]
    # stride 2, odd size: 1 before and after, centred on 2j
    odd = torch.arange(7, dtype=torch.float64)[:, None] * torch.ones(7, dtype=torch.float64)
    assert lowpass(odd, 2)[:, 1].tolist() == [0.25, 2.0, 4.0, 4.25]
    # the blur is separable: a row ramp times a column of ones blurs to the product of the 1-D blurs
    edge = torch.tensor([0.75, 1, 1, 1, 1, 1, 1, 0.75], dtype=torch.float64)
    column = lowpass(ramp[:, None] * ones[None, :], 1)[:, 1]  # an interior column: the 1-D blur of the ramp
    assert torch.equal(lowpass(ramp[:, None] * ones[None, :], 1), column[:, None] * edge[None, :])
    assert lowpass(torch.zeros(2, 3, 9, 4), 2).shape == (2, 3, 5, 2)


def test_constant_field_variances_on_edges_and_corners():
    c = 3.0
    stats = multiscale_stats(torch.full((1, 8, 8), c, dtype=torch.float64), num_levels=1)
    variance = stats.variances[0][0]
    assert variance[0, 3].item() == pytest.approx(0.1875 * c**2, abs=1e-14)
    assert variance[7, 3].item() == pytest.approx(0.1875 * c**2, abs=1e-14)
    assert variance[0, 0].item() == pytest.approx(0.24609375 * c**2, abs=1e-14)
    assert variance[7, 7].item() == pytest.approx(0.24609375 * c**2, abs=1e-14)
    assert variance[3, 4].item() == 0.0


def test_multiscale_stats_sizes_follow_ceil_halving():
    stats = multiscale_stats(torch.randn(2, 4, 37, 20), num_levels=4)
    assert [tuple(m.shape) for m in stats.means] == [
        (2, 4, 37, 20),
        (2, 4, 19, 10),
        (2, 4, 10, 5),
        (2, 4, 5, 3),
    ]
    assert [tuple(v.shape) for v in stats.variances] == [tuple(m.shape) for m in stats.means]


def test_border_weights_of_constant_sigma():
    a, b = torch.randn(2, 64, 64, dtype=torch.float64), torch.randn(2, 64, 64, dtype=torch.float64)
    _, inter = wasserstein_distortion(
        a, b, torch.full((64, 64), 2.5, dtype=torch.float64), return_intermediates=True
    )
    assert [w[0, 0].item() for w in inter.weights] == [0, 0, 0.5, 0.5, 0, 0]
    assert [w[-1, -1].item() for w in inter.weights] == [0, 0, 0.40625, 0, 0, 0]
    _, inter = wasserstein_distortion(
        a, b, torch.full((64, 64), 5.0, dtype=torch.float64), return_intermediates=True
    )
    assert inter.weights[2][-1, -1].item() == 0.1875
    assert [tuple(w.shape) for w in inter.weights] == [(64, 64), (64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]


def test_lower_limit_gradient_examples():
    x = torch.tensor([-1.0, -1.0, 0.0, 2.0], requires_grad=True)
    y = lower_limit(x, 0.0)
    assert y.tolist() == [0.0, 0.0, 0.0, 2.0]
    (grad,) = torch.autograd.grad(y, x, torch.tensor([1.0, -1.0, 1.0, 5.0]))
    assert grad.tolist() == [0.0, -1.0, 1.0, 5.0]


def test_safe_sqrt_gradient_is_capped():
    x = torch.tensor([0.0, 4.0, 1e-14, 1.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(safe_sqrt(x, 1e6).sum(), x)
    assert grad.tolist() == [1e6, 0.25, 1e6, 0.5]  # capped below 0.25 / limit² = 2.5e-13
    (grad,) = torch.autograd.grad(safe_sqrt(x, 7.0).sum(), x)
    assert grad[0].item() == 7.0 and grad[1].item() == 0.25
    zero = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(
        safe_sqrt(zero, math.inf), zero, torch.tensor([1.0, 0.0], dtype=torch.float64)
    )
    assert math.isinf(grad[0].item()) and math.isnan(grad[1].item())  # inf · 0, as the reference


def test_sigma_equal_to_num_levels_is_allowed_and_above_is_not():
    a, b = torch.randn(3, 16, 16), torch.randn(3, 16, 16)
    wasserstein_distortion(a, b, torch.full((16, 16), 3.0), num_levels=3)
    with pytest.raises(ValueError, match=r"log2_sigma must .* with num_levels = 3; got min 3\.01, max 3\.01"):
        wasserstein_distortion(a, b, torch.full((16, 16), 3.01), num_levels=3)


def test_one_pixel_input_and_num_levels_zero():
    a, b = torch.randn(4, 1, 1, dtype=torch.float64), torch.randn(4, 1, 1, dtype=torch.float64)
    assert wasserstein_distortion(a, b, torch.full((1, 1), 3.0, dtype=torch.float64)).item() == 0.0
    mse = ((a - b) ** 2).mean()
    assert wasserstein_distortion(a, b, torch.zeros(1, 1, dtype=torch.float64)).item() == pytest.approx(
        mse.item(), rel=1e-15
    )
    a, b = torch.randn(3, 9, 14, dtype=torch.float64), torch.randn(3, 9, 14, dtype=torch.float64)
    dist, inter = wasserstein_distortion(
        a, b, torch.zeros(9, 14, dtype=torch.float64), num_levels=0, return_intermediates=True
    )
    assert dist.item() == pytest.approx(((a - b) ** 2).mean().item(), rel=1e-14)
    assert len(inter.wd_maps) == 1
    with pytest.raises(ValueError, match="num_levels = 0"):
        wasserstein_distortion(a, b, torch.full((9, 14), 0.5, dtype=torch.float64), num_levels=0)


def test_identical_features_give_zero_with_a_finite_zero_gradient():
    a = torch.randn(3, 20, 30, dtype=torch.float64)
    b = a.clone().requires_grad_()
    dist = wasserstein_distortion(a, b, torch.rand(20, 30, dtype=torch.float64) * 5)
    dist.backward()
    assert dist.item() == 0.0 and torch.count_nonzero(b.grad) == 0


def test_negative_sigma_is_rejected_not_a_silent_zero():
    # The reference accepts log2 σ < 0 and down-weights level 0 (all weights vanish for σ <= -1, so the
    # distortion is 0 for any features); a sigma map lives in [0, num_levels].
    a, b = torch.randn(2, 8, 8, dtype=torch.float64), torch.randn(2, 8, 8, dtype=torch.float64)
    for value in (-0.25, -1.0, -3.0):
        with pytest.raises(ValueError, match=r"log2_sigma must have values in \[0, num_levels\]"):
            wasserstein_distortion(a, b, torch.full((8, 8), value, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"log2_sigma must have values >= 0"):
        multi_wasserstein_distortion([a], [b], torch.full((8, 8), -1.0, dtype=torch.float64))


# --------------------------------------------------------------------------------------------------
# Batches, dtypes, devices


def test_batched_equals_per_sample_with_shared_and_per_sample_sigma():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(3, 4, 21, 30, generator=g), torch.randn(3, 4, 21, 30, generator=g)
    sigmas = torch.rand(3, 21, 30, generator=g) * 5
    b.requires_grad_()
    batched = wasserstein_distortion(a, b, sigmas)
    assert batched.shape == (3,)
    (grad,) = torch.autograd.grad(batched.sum(), b)
    for i in range(3):
        single_b = b[i].detach().clone().requires_grad_()
        single = wasserstein_distortion(a[i], single_b, sigmas[i])
        (single_grad,) = torch.autograd.grad(single, single_b)
        torch.testing.assert_close(batched[i], single, rtol=1e-6, atol=0)
        torch.testing.assert_close(grad[i], single_grad, rtol=1e-5, atol=1e-9)
    shared = wasserstein_distortion(a, b, sigmas[1])
    torch.testing.assert_close(shared[2], wasserstein_distortion(a[2], b[2], sigmas[1]), rtol=1e-6, atol=0)
    _, inter = wasserstein_distortion(a, b, sigmas[1], return_intermediates=True)
    assert inter.wd_maps[3].shape == (3, 4, 6, 8) and inter.weights[3].shape == (6, 8)


def test_float32_and_float64_agree_and_half_precision_is_computed_in_float32():
    a, b, sigma = _random_case((3, 24, 24), 5, seed=9)
    d64 = wasserstein_distortion(a, b, sigma)
    d32 = wasserstein_distortion(a.float(), b.float(), sigma.float())
    assert d32.dtype == torch.float32 and d32.item() == pytest.approx(d64.item(), rel=1e-5)
    d16 = wasserstein_distortion(a.half(), b.half(), sigma.half())
    assert d16.dtype == torch.float32 and d16.item() == pytest.approx(d64.item(), rel=1e-2)


def test_results_do_not_depend_on_the_input_layout():
    a, b, sigma = _random_case((2, 5, 16, 18), 4, seed=2)
    a, b = a.float(), b.float()
    expected = wasserstein_distortion(a, b, sigma.float(), num_levels=4)
    channels_last = [x.contiguous(memory_format=torch.channels_last) for x in (a, b)]
    torch.testing.assert_close(wasserstein_distortion(*channels_last, sigma.float(), num_levels=4), expected)
    strided = [x.transpose(-1, -2).contiguous().transpose(-1, -2) for x in (a, b)]
    torch.testing.assert_close(wasserstein_distortion(*strided, sigma.float(), num_levels=4), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    a, b, sigma = _random_case((2, 6, 40, 33), 5, seed=11)
    b.requires_grad_()
    cpu = wasserstein_distortion(a, b, sigma)
    (cpu_grad,) = torch.autograd.grad(cpu.sum(), b)
    b_cuda = b.detach().cuda().requires_grad_()
    gpu = wasserstein_distortion(a.cuda(), b_cuda, sigma.cuda())
    (gpu_grad,) = torch.autograd.grad(gpu.sum(), b_cuda)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=0)
    torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="max"):
        wasserstein_distortion(a.cuda(), b_cuda, torch.full_like(sigma, 6.0).cuda())


# --------------------------------------------------------------------------------------------------
# Validation


def test_validation_errors_name_the_argument():
    a, b, sigma = torch.randn(3, 8, 8), torch.randn(3, 8, 8), torch.zeros(8, 8)
    with pytest.raises(ValueError, match="features_a and features_b must have the same shape"):
        wasserstein_distortion(a, torch.randn(3, 8, 9), sigma)
    with pytest.raises(
        ValueError, match=r"log2_sigma must have the features' spatial shape \(H, W\) = \(8, 8\)"
    ):
        wasserstein_distortion(a, b, torch.zeros(8, 9))
    with pytest.raises(ValueError, match=r"log2_sigma must have shape \(H, W\); got \(1, 8, 8\)"):
        wasserstein_distortion(a, b, torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="log2_sigma must be finite"):
        wasserstein_distortion(a, b, torch.full((8, 8), math.nan))
    with pytest.raises(ValueError, match="features_b must be finite"):
        wasserstein_distortion(a, b.clone().fill_(math.inf), sigma)
    with pytest.raises(TypeError, match="features_a must have a floating-point dtype"):
        wasserstein_distortion(a.int(), b.int(), sigma)
    with pytest.raises(TypeError, match="log2_sigma must have a floating-point dtype"):
        wasserstein_distortion(a, b, sigma.long())
    with pytest.raises(TypeError, match="the same dtype"):
        wasserstein_distortion(a, b.double(), sigma)
    with pytest.raises(TypeError, match=r"features_a must be a torch\.Tensor"):
        wasserstein_distortion(a.tolist(), b, sigma)
    with pytest.raises(ValueError, match=r"features_a must have shape \(C, H, W\) or \(B, C, H, W\)"):
        wasserstein_distortion(a[0], b[0], sigma)
    with pytest.raises(ValueError, match="at least one channel"):
        wasserstein_distortion(a[:0], b[:0], sigma)
    with pytest.raises(ValueError, match=r"with the features' batch size B = 2"):
        wasserstein_distortion(torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="num_levels must be an int >= 0"):
        wasserstein_distortion(a, b, sigma, num_levels=-1)
    with pytest.raises(ValueError, match="sqrt_grad_limit must be a number > 0"):
        wasserstein_distortion(a, b, sigma, sqrt_grad_limit=0)
    with pytest.raises(TypeError, match="sqrt_grad_limit must be a number > 0"):
        wasserstein_distortion(a, b, sigma, sqrt_grad_limit="1e6")
    with pytest.raises(TypeError, match="return_intermediates must be a bool"):
        wasserstein_distortion(a, b, sigma, return_intermediates=1)
    with pytest.raises(TypeError):
        wasserstein_distortion(a, b, sigma, 5)  # options are keyword-only, as in the reference


def test_multi_validation_and_edge_cases():
    a = [torch.randn(3, 16, 16), torch.randn(5, 8, 8)]
    b = [torch.randn(3, 16, 16), torch.randn(5, 8, 8)]
    sigma = torch.rand(16, 16) * 3
    with pytest.raises(ValueError, match="the same length"):
        multi_wasserstein_distortion(a, b[:1], sigma)
    with pytest.raises(ValueError, match=r"features_a\[1\] and features_b\[1\] must have the same shape"):
        multi_wasserstein_distortion(a, [b[0], torch.randn(5, 8, 9)], sigma)
    with pytest.raises(ValueError, match=r"log2_sigma must have shape \(H, W\)"):
        multi_wasserstein_distortion(a, b, sigma[None])
    with pytest.raises(TypeError, match="features_a must be a list or tuple"):
        multi_wasserstein_distortion(a[0], b[0], sigma)
    assert multi_wasserstein_distortion([], [], sigma).item() == 0.0
    total = multi_wasserstein_distortion(tuple(a), tuple(b), sigma)
    parts = [
        wasserstein_distortion(x, y, resize_log2_sigma(sigma, tuple(x.shape[-2:])))
        for x, y in zip(a, b, strict=True)
    ]
    torch.testing.assert_close(total, parts[0] + parts[1])
    # an array larger than the sigma map gets a negative shift: sigma 4 on 16² with a 64² array → 6 > 5
    with pytest.raises(ValueError, match=r"log2_sigma resized for features_a\[0\] \(shape \(64, 64\)\)"):
        multi_wasserstein_distortion(
            [torch.randn(2, 64, 64)], [torch.randn(2, 64, 64)], torch.full((16, 16), 4.0)
        )
    # the original map is not bounded itself, only what each array receives
    multi_wasserstein_distortion([torch.randn(2, 8, 8)], [torch.randn(2, 8, 8)], torch.full((32, 32), 6.0))


def test_batched_multi_with_per_sample_sigma_equals_per_sample_calls():
    g = torch.Generator().manual_seed(8)
    a = [torch.randn(2, 3, 24, 24, generator=g), torch.randn(2, 6, 12, 12, generator=g)]
    b = [torch.randn(2, 3, 24, 24, generator=g), torch.randn(2, 6, 12, 12, generator=g)]
    sigmas = torch.rand(2, 24, 24, generator=g) * 4
    batched = multi_wasserstein_distortion(a, b, sigmas)
    assert batched.shape == (2,)
    for i in range(2):
        single = multi_wasserstein_distortion([x[i] for x in a], [y[i] for y in b], sigmas[i])
        torch.testing.assert_close(batched[i], single, rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match=r"must all be \(C, H, W\) or all \(B, C, H, W\)"):
        multi_wasserstein_distortion([a[0], b[1][0]], [b[0], a[1][0]], sigmas)


@pytest.mark.parametrize(
    ("size_in", "size_out"),
    [((64, 64), (32, 32)), ((64, 64), (16, 16)), ((224, 224), (14, 14)), ((37, 53), (19, 27)),
     ((37, 53), (10, 14)), ((48, 80), (24, 40)), ((30, 30), (7, 7)), ((29, 41), (37, 53))],
)  # fmt: skip
def test_sigma_resize_matches_antialiased_bilinear_interpolation(size_in, size_out):
    sigma = torch.rand(size_in, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 4
    interpolated = F.interpolate(
        sigma[None, None], size=size_out, mode="bilinear", align_corners=False, antialias=True
    )
    shift = (math.log2(size_in[0] / size_out[0]) + math.log2(size_in[1] / size_out[1])) / 2
    expected = torch.relu(interpolated[0, 0] - shift)
    torch.testing.assert_close(resize_log2_sigma(sigma, size_out), expected, rtol=0, atol=5.1e-6)


def test_sigma_resize_is_exact_identity_at_equal_size_and_clamps_at_zero():
    sigma = torch.rand(12, 20, dtype=torch.float64) * 4 - 1
    assert torch.equal(resize_log2_sigma(sigma, (12, 20)), sigma.clamp(min=0))
    assert resize_log2_sigma(torch.full((12, 20), 0.5), (6, 10)).max().item() == 0.0


# --------------------------------------------------------------------------------------------------
# VGG-16 front end and the training loss


@pytest.fixture(scope="module")
def vgg():
    return backbones.backbone("vgg16", weights=None, pooling="avg").requires_grad_(False)


def test_vgg16_features_are_codex_front_end(vgg):
    images = torch.rand(2, 3, 70, 66)
    features = vgg16_features(images, vgg, num_scales=3)
    sizes = [(70, 66), (35, 33), (17, 16), (8, 8), (4, 4)]
    scale_sizes = [
        sizes,
        [(35, 33), (17, 16), (8, 8), (4, 4), (2, 2)],
        [(18, 17), (9, 8), (4, 4), (2, 2), (1, 1)],
    ]
    assert len(features) == 16
    assert [tuple(f.shape[-2:]) for f in features[1:]] == [s for scale in scale_sizes for s in scale]
    assert [f.shape[1] for f in features] == [3] + [64, 128, 256, 512, 512] * 3
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (images - mean) / std
    torch.testing.assert_close(features[0], normalised)
    # an independent torchvision VGG-16 with the same weights, max pools replaced by 2×2 average pools
    import torchvision

    model = torchvision.models.vgg16(weights=None).features.eval()
    model.load_state_dict({k.removeprefix("features."): v for k, v in vgg.state_dict().items()}, strict=False)
    for i, module in enumerate(model):
        if isinstance(module, torch.nn.MaxPool2d):
            model[i] = torch.nn.AvgPool2d(2, 2)
        if isinstance(module, torch.nn.ReLU):
            model[i] = torch.nn.ReLU()
    x, taps = lowpass(normalised, 2), []
    with torch.no_grad():
        for i, module in enumerate(model[:30]):
            x = module(x)
            if i in (3, 8, 15, 22, 29):
                taps.append(x)
    for ours, theirs in zip(features[6:11], taps, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_vgg16_distortion_identical_images_batched_and_errors(vgg, monkeypatch):
    from laserlab.perceptual.wasserstein import vgg16

    monkeypatch.setattr(vgg16, "_cached_vgg16", lambda weights, device, dtype: vgg)
    image = torch.rand(3, 64, 64)
    sigma = torch.full((64, 64), 3.0)
    assert vgg16_wasserstein_distortion(image, image, sigma, weights=None).item() == 0.0
    other = torch.rand(2, 3, 64, 64)
    batched = vgg16_wasserstein_distortion(image.expand(2, 3, 64, 64), other, sigma, weights=None)
    assert batched.shape == (2,) and (batched > 0).all()
    single = vgg16_wasserstein_distortion(image, other[1], sigma, weights=None)
    torch.testing.assert_close(batched[1], single, rtol=1e-5, atol=0)
    _, inter = vgg16_wasserstein_distortion(image, other[0], sigma, weights=None, return_intermediates=True)
    assert len(inter.distortions) == 16
    assert [s.shape for s in inter.log2_sigmas[:2]] == [(64, 64), (64, 64)]
    assert inter.log2_sigmas[5].max().item() == pytest.approx(0.0)  # relu5_3 at 4×4: shift −4 clamps sigma 3
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        vgg16_wasserstein_distortion(image * 2, image, sigma, weights=None)
    with pytest.raises(TypeError, match="move the network with"):
        vgg16_features(other.double(), vgg)
    with pytest.raises(ValueError, match="large enough for VGG-16 at all 3 scales"):
        vgg16_wasserstein_distortion(torch.rand(3, 60, 60), torch.rand(3, 60, 60), sigma, weights=None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_precomputed_vgg16_features_give_bit_identical_distortions(vgg, monkeypatch, dtype):
    """A reference's precomputed features stand in for the image: the same numbers as the uncached
    function, for single images and batches, with and without gradients, under several sigma maps."""
    import copy

    from laserlab.perceptual.wasserstein import vgg16

    network = copy.deepcopy(vgg).to(dtype)
    monkeypatch.setattr(vgg16, "_cached_vgg16", lambda weights, device, dtype: network)
    g = torch.Generator().manual_seed(11)
    reference = torch.rand(2, 3, 48, 40, generator=g, dtype=dtype)
    others = [torch.rand(2, 3, 48, 40, generator=g, dtype=dtype) for _ in range(2)]
    sigmas = [torch.full((48, 40), 2.5, dtype=dtype), torch.rand(48, 40, generator=g, dtype=dtype) * 5]
    options = {"num_scales": 2, "num_levels": 5, "weights": None}
    batch_features = vgg16.precompute_vgg16_features(reference, num_scales=2, weights=None)
    single_features = vgg16.precompute_vgg16_features(reference[1], num_scales=2, weights=None)
    assert isinstance(batch_features, vgg16.VGG16Features) and len(batch_features.arrays) == 11
    assert not any(a.requires_grad for a in batch_features.arrays)
    for other in others:
        for sigma in sigmas:
            uncached = vgg16_wasserstein_distortion(reference, other, sigma, **options)
            assert torch.equal(
                vgg16_wasserstein_distortion(batch_features, other, sigma, **options), uncached
            )
            assert torch.equal(vgg16_wasserstein_distortion(other, batch_features, sigma, **options),
                               vgg16_wasserstein_distortion(other, reference, sigma, **options))  # fmt: skip
            single = vgg16_wasserstein_distortion(reference[1], other[1], sigma, **options)
            assert single.dim() == 0
            assert torch.equal(
                vgg16_wasserstein_distortion(single_features, other[1], sigma, **options), single
            )
    # the gradient reaching the other image is the uncached one too
    other = others[0].clone().requires_grad_()
    (grad_uncached,) = torch.autograd.grad(
        vgg16_wasserstein_distortion(reference, other, sigmas[1], **options).sum(), other
    )
    (grad_cached,) = torch.autograd.grad(
        vgg16_wasserstein_distortion(batch_features, other, sigmas[1], **options).sum(), other
    )
    assert torch.equal(grad_cached, grad_uncached)
    # precomputed features are only valid for the options they were computed with
    with pytest.raises(ValueError, match="image_a was precomputed with num_scales=2, but this call asks for"):
        vgg16_wasserstein_distortion(batch_features, other, sigmas[0], num_scales=3, weights=None)
    with pytest.raises(ValueError, match="image_b was precomputed with weights=None"):
        vgg16_wasserstein_distortion(other, batch_features, sigmas[0], num_scales=2)
    with pytest.raises(ValueError, match="image_a and image_b must have the same shape"):
        vgg16_wasserstein_distortion(single_features, other, sigmas[0], **options)
    other_dtype = torch.float32 if dtype == torch.float64 else torch.float64
    mismatched = vgg16.VGG16Features(
        reference.to(other_dtype), batch_features.arrays, 2, None, batch_features.network
    )
    with pytest.raises(TypeError, match=f"image_a was precomputed in {dtype}"):
        vgg16_wasserstein_distortion(
            mismatched, other.detach().to(other_dtype), sigmas[0].to(other_dtype), **options
        )


def test_vgg16_random_weights_are_recorded_as_substitution():
    from laserlab.perceptual.wasserstein import vgg16

    usage.clear()
    network = vgg16._vgg16_for(None, torch.device("cpu"), torch.float32)
    assert not any(p.requires_grad for p in network.parameters())
    assert [r.substituted for r in usage.records() if r.name == "vgg16 backbone"] == [True]
    usage.clear()
    assert vgg16._vgg16_for(None, torch.device("cpu"), torch.float32) is network  # cached, recorded again
    assert [r.substituted for r in usage.records() if r.name == "vgg16 backbone"] == [True]


def test_loss_module_pixels_and_vgg(vgg, monkeypatch):
    sigma = torch.rand(32, 32) * 4
    loss = WassersteinDistortion(sigma)
    target = torch.rand(2, 3, 32, 32)
    reconstruction = torch.rand(2, 3, 32, 32, requires_grad=True)
    value = loss(reconstruction, target)
    assert value.shape == (2,)
    torch.testing.assert_close(value, wasserstein_distortion(reconstruction, target, sigma))
    value.sum().backward()
    assert reconstruction.grad is not None and torch.isfinite(reconstruction.grad).all()
    # the sigma map is in pixels of its own grid: a 16² map over 32² images raises sigma by one level
    coarse = WassersteinDistortion(torch.full((16, 16), 2.0))
    torch.testing.assert_close(
        coarse(reconstruction, target),
        wasserstein_distortion(reconstruction, target, torch.full((32, 32), 3.0)),
    )
    assert loss.double()(reconstruction.double(), target.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="reconstruction must have values in"):
        loss(reconstruction + 1, target)
    with pytest.raises(ValueError, match="features must be one of"):
        WassersteinDistortion(sigma, features="lpips")
    with pytest.raises(ValueError, match=r"log2_sigma must .* with num_levels = 3"):
        WassersteinDistortion(sigma, num_levels=3)

    from laserlab.perceptual.wasserstein import loss

    monkeypatch.setattr(loss, "backbone", lambda *args, **kwargs: vgg)
    vgg_loss = WassersteinDistortion(torch.full((32, 32), 2.0), features="vgg16", weights=None, num_scales=2)
    images = torch.rand(2, 3, 32, 32)
    assert vgg_loss(images, images).tolist() == [0.0, 0.0]
    assert (vgg_loss(torch.rand(2, 3, 32, 32), images) > 0).all()
    assert "features='vgg16'" in repr(vgg_loss)
