import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.fft
import skimage.data
import torch

from laserlab.bench import threads
from laserlab.spectral import (
    MASK_KINDS,
    SpectralTruncation,
    dct_2d,
    idct_2d,
    passband_fraction,
    spectral_mask,
    truncate,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors gain nothing from intra-op threads; on a shared, loaded machine their spin-waits make
    these tests an order of magnitude slower."""
    with threads(1):
        yield


def _crop(name: str = "chelsea", size: int = 256) -> torch.Tensor:
    """A centre crop (1, 3, size, size) float64 in [0, 1] of a scikit-image photograph."""
    image = getattr(skimage.data, name)()
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    crop = image[top : top + size, left : left + size] / 255.0
    return torch.from_numpy(crop).permute(2, 0, 1)[None].contiguous()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float((a - b).square().mean()))


def _oracle_mask(height: int, width: int, tau: float, kind: str) -> np.ndarray:
    """The mask written from the formulas, one coefficient at a time."""
    mask = np.zeros((height, width))
    for u in range(height):
        for v in range(width):
            r = math.hypot(u / height, v / width)
            if kind == "radial":
                mask[u, v] = max(0.0, (tau - r) / tau)
            elif kind == "hard":
                mask[u, v] = float(r < tau)
            elif kind == "flat_top":  # ramp width 0.1, flat up to τ·√2
                mask[u, v] = min(1.0, max(0.0, (0.1 + tau * math.sqrt(2) - r) / 0.1))
            else:
                mask[u, v] = float(u / height < tau and v / width < tau)
    return mask


# ------------------------------------------------------------------------------------------------ mask


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("tau", [0.05, 0.3, 0.77, 1.0])
def test_mask_matches_the_formula_on_a_non_square_grid(kind, tau):
    height, width = 24, 40
    mask = spectral_mask(height, width, tau, kind=kind, dtype=torch.float64)
    assert mask.shape == (height, width) and mask.dtype == torch.float64
    np.testing.assert_allclose(mask.numpy(), _oracle_mask(height, width, tau, kind), atol=1e-15)


@pytest.mark.parametrize(
    ("u", "v", "tau"), [(0, 0, 0.05), (3, 0, 0.5), (0, 7, 0.5), (5, 9, 0.9), (20, 35, 1.0)]
)
def test_mask_at_sampled_frequencies(u, v, tau):
    height, width = 24, 40
    r = math.sqrt((u / height) ** 2 + (v / width) ** 2)
    expected = max(0.0, (tau - r) / tau)
    assert spectral_mask(height, width, tau, dtype=torch.float64)[u, v].item() == pytest.approx(
        expected, abs=1e-15
    )


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_dc_passes_and_nothing_beyond_the_cutoff(kind):
    height, width, tau = 32, 48, 0.4
    mask = spectral_mask(height, width, tau, kind=kind)
    assert mask[0, 0].item() == 1.0
    u = torch.arange(height, dtype=torch.float64)[:, None] / height
    v = torch.arange(width, dtype=torch.float64)[None, :] / width
    r = (u**2 + v**2).sqrt()
    cutoff = 0.1 + tau * math.sqrt(2) if kind == "flat_top" else tau
    outside = (u >= tau) | (v >= tau) if kind == "square" else r >= cutoff - 1e-12
    assert outside.any() and (mask[outside] == 0).all()
    assert ((mask >= 0) & (mask <= 1)).all()


def test_hard_and_square_are_binary_and_nested():
    hard = spectral_mask(64, 64, 0.5, kind="hard")
    square = spectral_mask(64, 64, 0.5, kind="square")
    radial = spectral_mask(64, 64, 0.5, kind="radial")
    assert set(hard.unique().tolist()) == {0.0, 1.0} and set(square.unique().tolist()) == {0.0, 1.0}
    # same support for the soft and the hard radial masks; the square contains the quarter disc
    assert torch.equal(radial > 0, hard > 0)
    assert (square[hard > 0] == 1).all()
    assert int(square.sum()) == 32 * 32


def test_flat_top_reaches_the_identity_at_tau_one_and_the_paper_mask_does_not():
    photo = _crop(size=64)
    assert torch.equal(spectral_mask(64, 48, 1.0, kind="flat_top"), torch.ones(64, 48))
    np.testing.assert_allclose(truncate(photo, 1.0, kind="flat_top").numpy(), photo.numpy(), atol=1e-12)
    assert _psnr(truncate(photo, 1.0, kind="radial"), photo) < 40
    # flat at 1 up to r = τ·√2, then a ramp of width 0.1 down to 0
    mask = spectral_mask(100, 100, 0.1, kind="flat_top", dtype=torch.float64)
    assert mask[14, 0].item() == 1.0  # r = 0.14 ≤ 0.1·√2
    assert mask[19, 0].item() == pytest.approx((0.1 + 0.1 * math.sqrt(2) - 0.19) / 0.1, abs=1e-12)
    assert mask[25, 0].item() == 0.0


def test_passband_fraction_matches_the_notes():
    # notes/spectral.md §2: 0.21 % of the 256² coefficients at τ = 0.05, 79 % at τ = 1 (a quarter disc, π/4)
    assert passband_fraction(256, 256, 0.05) == pytest.approx(0.0021, abs=0.0001)
    assert passband_fraction(256, 256, 1.0) == pytest.approx(0.79, abs=0.005)
    assert passband_fraction(256, 256, 1.0) == pytest.approx(math.pi / 4, abs=0.01)
    assert passband_fraction(256, 256, 0.5) == pytest.approx(0.198, abs=0.002)
    assert passband_fraction(256, 256, 0.5, kind="square") == pytest.approx(0.25)
    assert passband_fraction(256, 256, 1.0, kind="square") == 1.0


# -------------------------------------------------------------------------------------------- truncate


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize(
    ("shape", "tau"), [((2, 3, 32, 32), 0.05), ((1, 2, 24, 40), 0.6), ((1, 1, 17, 9), 1.0)]
)
def test_truncate_matches_a_scipy_oracle(shape, tau, kind):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    mask = _oracle_mask(*shape[-2:], tau, kind)
    expected = scipy.fft.idctn(spectrum * mask, type=2, norm="ortho", axes=(-2, -1))
    result = truncate(x, tau, kind=kind)
    assert result.dtype == torch.float64 and result.shape == x.shape
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-12, rtol=0)


def test_float32_round_trip_and_truncation():
    x = _crop(size=128)
    x32 = x.float()
    assert (idct_2d(dct_2d(x32)) - x32).abs().max() <= 1e-5
    result = truncate(x32, 0.3)
    assert result.dtype == torch.float32
    assert (result.double() - truncate(x, 0.3)).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_tau_one_is_not_the_identity(name):
    x = _crop(name)
    psnr_final = _psnr(truncate(x, 1.0), x)
    psnr_start = _psnr(truncate(x, 0.05), x)
    assert 25 < psnr_final < 35  # notes: 29–33 dB on 256² crops; a visible jump when truncation stops
    assert 13 < psnr_start < 22 and psnr_start < psnr_final


def test_truncate_keeps_the_mean_and_is_differentiable():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    y = truncate(x, 0.2)
    torch.testing.assert_close(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)))
    # the truncation is a symmetric linear operator (Pᵀ diag(M) P): the gradient of <y, w> is truncate(w)
    w = torch.randn_like(x)
    (grad,) = torch.autograd.grad((y * w).sum(), x)
    torch.testing.assert_close(grad, truncate(w, 0.2))


# -------------------------------------------------------------------------------------------- schedule


def test_schedule_endpoints_and_off_after_the_window():
    curriculum = SpectralTruncation(0.05, 1.0, epochs=100)
    assert curriculum.tau(0) == 0.05
    assert curriculum.tau(50) == pytest.approx((0.05 + 1.0) / 2)
    assert curriculum.tau(99) == pytest.approx(0.05 + 0.95 * 99 / 100)
    assert curriculum.tau(99) < 1.0
    assert curriculum.tau(100) is None and curriculum.tau(1000) is None
    taus = [curriculum.tau(t) for t in range(100)]
    assert np.allclose(np.diff(taus), 0.95 / 100)  # linear


def test_step_window_ignores_epochs():
    curriculum = SpectralTruncation(0.1, 0.5, epochs=3, steps=40)
    assert curriculum.tau(0) == pytest.approx(0.1)
    assert curriculum.tau(20) == pytest.approx(0.3)
    assert curriculum.tau(39) == pytest.approx(0.1 + 0.4 * 39 / 40)
    assert curriculum.tau(5) is not None  # past epochs=3 but inside the step window
    assert curriculum.tau(40) is None
    assert "40 steps" in repr(curriculum)


def test_constant_schedule_is_allowed():
    curriculum = SpectralTruncation(0.5, 0.5, epochs=4)
    assert [curriculum.tau(t) for t in range(5)] == [0.5, 0.5, 0.5, 0.5, None]


# ------------------------------------------------------------------------------------------- callback


class _FakeModule:
    def __init__(self):
        self.batch_transform = None
        self.logged = []

    def log(self, name, value, **kwargs):
        self.logged.append((name, value, kwargs))


def _batch_start(callback, module, *, step=0, epoch=0):
    trainer = SimpleNamespace(global_step=step, current_epoch=epoch)
    callback.on_train_batch_start(trainer, module, None, 0)


@pytest.mark.parametrize("input_only", [False, True])
def test_callback_sets_the_transform_in_the_window(input_only):
    penalty = SimpleNamespace(active=True)
    callback = SpectralTruncation(0.2, 1.0, epochs=4, input_only=input_only, penalty=penalty)
    module = _FakeModule()
    images = _crop(size=32).float()

    _batch_start(callback, module, epoch=2)
    assert penalty.active is False
    [(name, value, options)] = module.logged
    assert name == "train/spectral_tau" and value == pytest.approx(0.6) and options.get("on_step") is True
    inputs, targets = module.batch_transform(images)
    spectrum = scipy.fft.dctn(images.double().numpy(), type=2, norm="ortho", axes=(-2, -1))
    expected = np.clip(
        scipy.fft.idctn(spectrum * _oracle_mask(32, 32, 0.6, "radial"), norm="ortho", axes=(-2, -1)), 0, 1
    )
    np.testing.assert_allclose(inputs.numpy(), expected, atol=1e-5)
    assert inputs.min() >= 0 and inputs.max() <= 1
    assert not torch.allclose(inputs, images, atol=1e-3)
    if input_only:
        assert targets is images
    else:
        assert torch.equal(targets, inputs)

    _batch_start(callback, module, epoch=4)
    assert module.batch_transform is None
    assert penalty.active is True
    # documented: logged every step, NaN once truncation is off (never a stale τ)
    assert all(math.isnan(value) for name, value, _ in module.logged[1:] if name == "train/spectral_tau")


def test_callback_counts_steps_when_asked():
    penalty = SimpleNamespace(active=True)
    callback = SpectralTruncation(0.1, 0.9, steps=10, penalty=penalty)
    module = _FakeModule()
    _batch_start(callback, module, step=5, epoch=50)
    assert module.batch_transform is not None and penalty.active is False
    assert module.logged[-1][1] == pytest.approx(0.5)
    _batch_start(callback, module, step=10, epoch=0)
    assert module.batch_transform is None and penalty.active is True
    module.batch_transform = "stale"
    callback.on_train_end(SimpleNamespace(), module)
    assert module.batch_transform is None


def test_callback_uses_the_modules_own_penalty_and_switches_off_on_an_exception():
    callback = SpectralTruncation(0.1, 0.9, steps=10)  # no penalty given
    module = _FakeModule()
    module.cross_scale = SimpleNamespace(active=True)
    _batch_start(callback, module, step=3)
    assert module.cross_scale.active is False and module.batch_transform is not None
    callback.on_exception(SimpleNamespace(), module, KeyboardInterrupt())
    assert module.cross_scale.active is True and module.batch_transform is None


@pytest.mark.parametrize(
    ("unit", "window", "warns"), [("step", 100, True), ("epoch", 10, True), ("step", 99, False)]
)
def test_callback_warns_when_the_window_covers_the_run(unit, window, warns):
    callback = SpectralTruncation(**({"steps": window} if unit == "step" else {"epochs": window}))
    trainer = SimpleNamespace(max_steps=100, num_training_batches=10)
    if warns:
        with pytest.warns(UserWarning, match="covers the whole run"):
            callback.on_train_start(trainer, _FakeModule())
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            callback.on_train_start(trainer, _FakeModule())


def test_callback_kind_reaches_the_transform():
    callback = SpectralTruncation(0.5, 0.5, epochs=1, kind="square")
    module = _FakeModule()
    _batch_start(callback, module)
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    inputs, _ = module.batch_transform(images)
    torch.testing.assert_close(inputs, truncate(images, 0.5, kind="square").clamp(0, 1))


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("tau", "error"),
    [
        *[(bad, ValueError) for bad in (0, 0.0, -0.1, 1.01, math.nan, math.inf)],
        *[(bad, TypeError) for bad in (True, "0.5")],
    ],
)
def test_bad_tau(tau, error):
    with pytest.raises(error, match="tau"):
        spectral_mask(8, 8, tau)
    with pytest.raises(error, match="tau"):
        truncate(torch.rand(1, 1, 8, 8), tau)
    with pytest.raises(error, match="tau_init"):
        SpectralTruncation(tau, 1.0)
    with pytest.raises(error, match="tau_final"):
        SpectralTruncation(0.05, tau)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tau_init": 0.5, "tau_final": 0.2}, ValueError, "tau_final"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": -3}, ValueError, "epochs"),
        ({"epochs": 2.5}, TypeError, "epochs"),
        ({"steps": 0}, ValueError, "steps"),
        ({"kind": "zigzag"}, ValueError, "kind"),
    ],
)
def test_bad_schedule(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpectralTruncation(**kwargs)


def test_bad_penalty_and_t():
    with pytest.raises(TypeError, match="penalty"):
        SpectralTruncation(penalty=object())
    with pytest.raises(ValueError, match="t must"):
        SpectralTruncation().tau(-1)


def test_bad_mask_arguments():
    with pytest.raises(ValueError, match="kind"):
        spectral_mask(8, 8, 0.5, kind="circle")
    with pytest.raises(ValueError, match="kind"):
        truncate(torch.rand(1, 1, 8, 8), 0.5, kind="circle")
    with pytest.raises(ValueError, match="height"):
        spectral_mask(0, 8, 0.5)
    with pytest.raises(ValueError, match="width"):
        passband_fraction(8, -1, 0.5)


@pytest.mark.parametrize("shape", [(8, 8), (3, 8, 8), (1, 1, 1, 8, 8)])
def test_truncate_wants_4d(shape):
    with pytest.raises(ValueError, match=r"images must have shape \(B, C, H, W\)"):
        truncate(torch.rand(shape), 0.5)


def test_truncate_wants_floats():
    with pytest.raises(TypeError, match="images"):
        truncate(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 0.5)
    with pytest.raises(TypeError, match="images"):
        truncate(torch.zeros(1, 3, 8, 8, dtype=torch.long), 0.5)
    with pytest.raises(TypeError, match="images"):
        truncate(np.zeros((1, 3, 8, 8)), 0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_truncate_rejects_non_finite_images(bad):
    images = torch.rand(2, 3, 8, 8)
    images[1, 2, 5, 0] = bad
    with pytest.raises(ValueError, match="images must be finite"):
        truncate(images, 0.5)


def test_truncate_rejects_empty_images():
    with pytest.raises(ValueError, match="images must not be empty"):
        truncate(torch.rand(0, 3, 8, 8), 0.5)
