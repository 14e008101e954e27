"""Property-based checks of the numeric entry points (Hypothesis): for random shapes (zero-size included),
dtypes, magnitudes from 1e-20 to 1e20 and stray NaN/Inf values, every call either returns only finite
numbers or raises a ``TypeError`` / ``ValueError`` — never a silent NaN or Inf, never another exception."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laserlab import sparse
from laserlab.bottlenecks import DictionaryBottleneck, VectorQuantizer, from_tokens, to_tokens
from laserlab.perceptual.wasserstein import wasserstein_distortion
from laserlab.sparse import rate
from laserlab.spectral import dct_2d, haar_dwt, haar_idwt, idct_2d, truncate

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECIALS = (math.nan, math.inf, -math.inf)


@st.composite
def tensors(draw, *, dims: int, max_side: int = 5, dtypes=(torch.float32, torch.float64), sides=None):
    """A float tensor of ``dims`` dimensions (sides 0 … max_side, or ``sides``), magnitude 10^k for k in
    [-20, 20], and with probability 1/8 one NaN or ±Inf."""
    shape = sides if sides is not None else tuple(draw(st.integers(0, max_side)) for _ in range(dims))
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**16))
    scale = 10.0 ** draw(st.integers(-20, 20))
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale).to(
        dtype
    )
    if x.numel() and draw(st.integers(0, 7)) == 0:
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from(SPECIALS))
    return x


def floats_in(result):
    """Every floating-point tensor or float inside ``result`` (dataclasses, sequences, dicts)."""
    if isinstance(result, torch.Tensor):
        if result.is_floating_point():
            yield result
    elif isinstance(result, float):
        yield torch.tensor(result, dtype=torch.float64)
    elif dataclasses.is_dataclass(result):
        for field in dataclasses.fields(result):
            yield from floats_in(getattr(result, field.name))
    elif isinstance(result, dict):
        for value in result.values():
            yield from floats_in(value)
    elif isinstance(result, list | tuple):
        for value in result:
            yield from floats_in(value)


def outcome(call):
    """Run ``call``: a ``TypeError`` / ``ValueError`` is a clear refusal (None); anything returned must be
    finite; any other exception fails the test."""
    try:
        result = call()
    except (TypeError, ValueError):
        return None
    for tensor in floats_in(result):
        assert torch.isfinite(tensor.detach()).all(), f"silent non-finite output in {type(result).__name__}"
    return result


@st.composite
def coding_problems(draw):
    signals = draw(tensors(dims=2))
    width = signals.shape[1] if draw(st.integers(0, 5)) else draw(st.integers(0, 5))
    atoms = draw(tensors(dims=2, sides=(draw(st.integers(0, 6)), width), dtypes=(signals.dtype,)))
    return signals, atoms, draw(st.integers(-1, 7))


@SETTINGS
@given(
    problem=coding_problems(),
    solver=st.sampled_from(sparse.SOLVERS),
    backend=st.sampled_from(["numba", "torch"]),
    tol=st.one_of(st.none(), st.floats(-1, 10), st.sampled_from(SPECIALS)),
)
def test_coders(problem, solver, backend, tol):
    signals, dictionary, sparsity = problem
    code = outcome(
        lambda: sparse.code(signals, dictionary, sparsity=sparsity, solver=solver, tol=tol, backend=backend)
    )
    if code is not None and signals.numel():
        # the coders are exact where they answer: the fit never explains more energy than there is
        energy = torch.linalg.vector_norm(signals.double(), dim=1)
        assert (code.residual_norm.double() <= energy * (1 + 1e-3) + 1e-30).all()


@SETTINGS
@given(
    signals=tensors(dims=2),
    clusters=st.integers(-1, 6),
    iterations=st.integers(-1, 3),
    start=st.sampled_from(["kmeans++", "random", "other"]),
    spherical=st.booleans(),
    normalize=st.booleans(),
)
def test_kmeans(signals, clusters, iterations, start, spherical, normalize):
    outcome(
        lambda: sparse.kmeans(
            signals,
            clusters,
            iterations=iterations,
            start=start,
            spherical=spherical,
            normalize=normalize,
            generator=torch.Generator().manual_seed(0),
        )
    )


@st.composite
def codes(draw, rows: int, num_atoms: int, dtype):
    """A SparseCode that is valid or broken in one random way (index range, NaN values, shapes)."""
    width = draw(st.integers(0, 3))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    low, high = draw(st.sampled_from([(-1, num_atoms), (-1, num_atoms), (-3, num_atoms + 2)]))
    indices = torch.randint(low, max(high, low + 1), (rows, width), generator=g)
    values = draw(tensors(dims=2, sides=(rows, width), dtypes=(dtype,)))
    values = torch.where(indices >= 0, values, torch.zeros_like(values))
    residual = draw(tensors(dims=1, sides=(rows,), dtypes=(dtype,))).abs()
    return sparse.SparseCode(indices, values, residual)


@SETTINGS
@given(
    data=st.data(),
    approximate=st.sampled_from([False, True, "no"]),
    backend=st.sampled_from(["numba", "torch"]),
)
def test_ksvd_update(data, approximate, backend):
    signals = data.draw(tensors(dims=2))
    dictionary = data.draw(
        tensors(dims=2, sides=(data.draw(st.integers(0, 6)), signals.shape[1]), dtypes=(signals.dtype,))
    )
    code = data.draw(codes(signals.shape[0], dictionary.shape[0], signals.dtype))
    update = outcome(
        lambda: sparse.ksvd_update(signals, dictionary, code, approximate=approximate, backend=backend)
    )
    if update is not None:
        norms = torch.linalg.vector_norm(update.dictionary[update.used].double(), dim=1)
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)


@SETTINGS
@given(
    data=st.data(),
    forgetting=st.floats(-0.5, 1.5) | st.sampled_from(SPECIALS),
    sweeps=st.integers(0, 2),
    max_coherence=st.none() | st.floats(0, 1),
)
def test_online_update(data, forgetting, sweeps, max_coherence):
    dictionary = data.draw(tensors(dims=2))
    state = outcome(lambda: sparse.online_init(dictionary))
    if state is None:
        return
    signals = data.draw(
        tensors(dims=2, sides=(data.draw(st.integers(0, 5)), dictionary.shape[1]), dtypes=(dictionary.dtype,))
    )
    code = data.draw(codes(signals.shape[0], dictionary.shape[0], dictionary.dtype))
    outcome(
        lambda: sparse.online_update(
            state, signals, code, forgetting=forgetting, sweeps=sweeps, max_coherence=max_coherence
        )
    )


@SETTINGS
@given(
    data=st.data(),
    bits=st.integers(-1, 26),
    num_symbols=st.integers(-1, 8),
    atoms=st.integers(-1, 8),
    bits_per_token=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 50),
    grid=st.tuples(st.integers(-1, 4), st.integers(-1, 4)),
    image=st.tuples(st.integers(-1, 16), st.integers(1, 16)),
)
def test_rates(data, bits, num_symbols, atoms, bits_per_token, grid, image):
    code = data.draw(codes(data.draw(st.integers(0, 5)), max(atoms, 1), torch.float32))
    quantized = outcome(lambda: rate.quantize_values(code, bits))
    outcome(lambda: rate.sparse_empirical_bits_per_token(quantized or code, atoms))
    symbols = torch.randint(-3, 10, (data.draw(st.integers(0, 6)),))
    outcome(lambda: rate.entropy_bits(symbols, num_symbols))
    outcome(lambda: rate.vq_empirical_bits_per_token(symbols, num_symbols))
    outcome(lambda: rate.bits_per_pixel(bits_per_token, grid, image))
    outcome(lambda: rate.sparse_bits_per_token(max(atoms, 1), 2, value_bits=bits))


@SETTINGS
@given(x=tensors(dims=4), patch_size=st.integers(-1, 3))
def test_tokens_round_trip(x, patch_size):
    tokens = outcome(lambda: to_tokens(x, patch_size))
    if tokens is not None:
        assert torch.equal(from_tokens(tokens, patch_size, x.shape), x)
    outcome(lambda: from_tokens(x.flatten(1), patch_size, tuple(x.shape)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    kind=st.sampled_from(["vq", "vq-cosine", "dictionary", "dictionary-quantized"]),
    training=st.booleans(),
)
def test_bottlenecks_forward_encode_decode(data, kind, training):
    dim = data.draw(st.integers(1, 4))
    if kind.startswith("vq"):
        bottleneck = VectorQuantizer(6, dim, cosine=kind.endswith("cosine"))
    else:
        bottleneck = DictionaryBottleneck(
            6, dim, sparsity=2, value_bits=6 if kind.endswith("quantized") else None
        )
    bottleneck.train(training)
    channels = dim if data.draw(st.integers(0, 4)) else data.draw(st.integers(0, 5))
    latent = data.draw(
        tensors(
            dims=4,
            sides=(
                data.draw(st.integers(0, 2)),
                channels,
                data.draw(st.integers(0, 3)),
                data.draw(st.integers(0, 3)),
            ),
            dtypes=(torch.float32, torch.float64, torch.float16),
        )
    )
    output = outcome(lambda: bottleneck(latent))
    codes_ = outcome(lambda: bottleneck.encode(latent))
    if codes_ is not None:
        decoded = outcome(lambda: bottleneck.decode(codes_))
        assert decoded is not None and decoded.shape == latent.shape
        if output is not None and not training:
            assert torch.equal(decoded.to(latent.dtype), output.quantized)
    if kind.startswith("vq"):
        indices = torch.randint(-1, 8, (1, 2, 2))
        outcome(lambda: bottleneck.decode(indices))


@SETTINGS
@given(
    data=st.data(),
    batched=st.booleans(),
    num_levels=st.integers(-1, 5),
    sigma_range=st.tuples(st.floats(-1, 3), st.floats(0, 6)),
)
def test_wasserstein_distortion(data, batched, num_levels, sigma_range):
    a = data.draw(tensors(dims=4 if batched else 3, max_side=6))
    b = a * 0.5 + data.draw(tensors(dims=a.dim(), sides=tuple(a.shape), dtypes=(a.dtype,)))
    low, span = sigma_range
    sigma = low + span * torch.rand(a.shape[-2:], dtype=a.dtype)
    outcome(lambda: wasserstein_distortion(a, b, sigma, num_levels=num_levels))


@SETTINGS
@given(
    x=tensors(dims=4, max_side=6),
    tau=st.floats(-0.5, 1.5),
    kind=st.sampled_from(["radial", "hard", "circle"]),
)
def test_spectral(x, tau, kind):
    spectrum = outcome(lambda: dct_2d(x))
    if spectrum is not None:
        outcome(lambda: idct_2d(spectrum))
    outcome(lambda: truncate(x, tau, kind=kind))
    bands = outcome(lambda: haar_dwt(x))
    if bands is not None:
        torch.testing.assert_close(haar_idwt(bands), x, rtol=1e-4, atol=1e-6 * float(x.abs().max()))


def test_outcome_flags_silent_nans_and_other_exceptions():
    with pytest.raises(AssertionError, match="silent non-finite output"):
        outcome(lambda: torch.tensor([math.nan]))
    with pytest.raises(IndexError):
        outcome(lambda: [][0])
    assert outcome(lambda: (_ for _ in ()).throw(ValueError("x must be ..."))) is None
