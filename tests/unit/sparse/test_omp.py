"""Exact OMP against scikit-learn's orthogonal_mp_gram (the oracle); matching pursuit; guards; validation."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp_gram
from sparse_data import gaussian_dictionary, planted, unit_rows

from laserlab.sparse import SOLVERS, SparseCode, code, matching_pursuit, omp

BACKENDS = ["numba", "torch"]


def sklearn_omp(signals, dictionary, *, sparsity=None, tol=None):
    """Dense (N, K) float64 codes from orthogonal_mp_gram (it warns on early stops; those are expected)."""
    x, d = signals.double().numpy(), dictionary.double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dense = orthogonal_mp_gram(
            d @ d.T, d @ x.T, n_nonzero_coefs=sparsity, tol=tol, norms_squared=(x * x).sum(1)
        )
    return dense.T.reshape(len(x), -1)


def assert_same_codes(code: SparseCode, reference: np.ndarray, *, atol: float) -> None:
    dense = code.to_dense(reference.shape[1]).double().numpy()
    mismatched = ((dense != 0) != (reference != 0)).any(axis=1)
    assert not mismatched.any(), f"{mismatched.sum()} of {len(dense)} supports differ"
    assert np.abs(dense - reference).max() <= atol


# (data, M, K, S): M < S in the pixel and (20, 40, 25) cases.
CASES = [
    ("synthetic", 64, 256, 8),
    ("synthetic", 3, 16, 4),
    ("synthetic", 20, 40, 25),
    ("synthetic", 192, 256, 16),
    ("real", 3, 16, 4),
    ("real", 64, 256, 8),
    ("real", 192, 256, 16),
]


def case_data(data, dim, num_atoms, sparsity, real_signals):
    if data == "synthetic":
        signals, dictionary, _ = planted(300, dim, num_atoms, min(sparsity, dim))
        return signals, dictionary
    signals = real_signals[dim]
    rows = torch.from_numpy(np.random.default_rng(0).choice(len(signals), 300, replace=False))
    return signals[rows], gaussian_dictionary(num_atoms, dim)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("data", "dim", "num_atoms", "sparsity"), CASES)
def test_float64_matches_sklearn(backend, data, dim, num_atoms, sparsity, real_signals):
    signals, dictionary = case_data(data, dim, num_atoms, sparsity, real_signals)
    code = omp(signals, dictionary, sparsity=sparsity, backend=backend)
    assert_same_codes(code, sklearn_omp(signals, dictionary, sparsity=sparsity), atol=1e-10)
    assert code.indices.dtype == torch.long and code.values.dtype == torch.float64
    if dim < sparsity:
        assert (code.n_active == dim).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tolerance_stopped_codes_match_sklearn(backend):
    signals, dictionary, _ = planted(240, 32, 64, 6, noise=0.05, seed=3)
    signals[::8] *= 0.05  # low-energy signals, some below tol before any atom is chosen
    tol = 0.08 * float((signals**2).sum(1).median())
    reference = sklearn_omp(signals, dictionary, tol=tol)
    energy = (signals**2).sum(1)
    below = energy <= tol
    assert below.any() and (~below).any()

    code = omp(signals, dictionary, sparsity=64, tol=tol, backend=backend)
    assert_same_codes(_rows(code, ~below), reference[~below.numpy()], atol=1e-10)
    # Error-constrained OMP: a signal already within tol needs no atom (scikit-learn takes one anyway).
    assert (code.n_active[below] == 0).all()
    torch.testing.assert_close(code.residual_norm[below], energy[below].sqrt())
    assert (code.residual_norm[~below] ** 2 <= tol * (1 + 1e-12)).all()
    assert len(set(code.n_active[~below].tolist())) > 2  # the tolerance, not the cap, decided

    # With a cap of S atoms: the tolerance path where it is short enough, the S-atom path otherwise.
    capped = omp(signals, dictionary, sparsity=3, tol=tol, backend=backend)
    short = torch.from_numpy((reference != 0).sum(1) <= 3) & ~below
    assert_same_codes(_rows(capped, short), reference[short.numpy()], atol=1e-10)
    at_cap = ~short & ~below
    assert_same_codes(_rows(capped, at_cap), sklearn_omp(signals[at_cap], dictionary, sparsity=3), atol=1e-10)


def _rows(code: SparseCode, mask: torch.Tensor) -> SparseCode:
    return SparseCode(code.indices[mask], code.values[mask], code.residual_norm[mask])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("data", ["synthetic", "real"])
def test_float32_close_to_float64_oracle(backend, data, real_signals):
    if data == "synthetic":
        signals, dictionary, _ = planted(2000, 64, 256, 8)
    else:
        signals, dictionary = real_signals[64][:2000], gaussian_dictionary(256, 64)
    reference = sklearn_omp(signals, dictionary, sparsity=8)
    code = omp(signals.float(), dictionary.float(), sparsity=8, backend=backend)
    assert code.values.dtype == torch.float32
    dense = code.to_dense(256).double().numpy()
    same = ((dense != 0) == (reference != 0)).all(axis=1)
    assert same.mean() >= 0.999
    scale = np.abs(reference[same]).max(axis=1, keepdims=True)
    assert (np.abs(dense[same] - reference[same]) <= 1e-4 * scale).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_and_thread_counts_agree(backend, monkeypatch):
    signals, dictionary, _ = planted(1000, 24, 48, 5, dtype=torch.float32, seed=5)
    reference = omp(signals, dictionary, sparsity=5, backend="torch")
    monkeypatch.setattr(
        sys.modules["laserlab.sparse.omp"], "_CPU_BLOCK_BYTES", 4096
    )  # many blocks, with a ragged last one
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        code = omp(signals, dictionary, sparsity=5, backend=backend)
        mp_two_threads = matching_pursuit(signals, dictionary, sparsity=5, backend=backend)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(code.indices, reference.indices)
    torch.testing.assert_close(code.values, reference.values, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(code.residual_norm, reference.residual_norm, rtol=1e-4, atol=1e-5)
    mp = matching_pursuit(signals, dictionary, sparsity=5, backend="torch")
    assert torch.equal(mp_two_threads.indices, mp.indices)
    torch.testing.assert_close(mp_two_threads.values, mp.values, rtol=1e-5, atol=1e-5)


def reference_matching_pursuit(x: np.ndarray, d: np.ndarray, sparsity: int):
    """Textbook MP on one signal: no re-fit, no re-selection."""
    residual, chosen, values = x.copy(), [], []
    for _ in range(sparsity):
        corr = d @ residual
        corr[chosen] = 0
        k = int(np.argmax(np.abs(corr)))
        chosen.append(k)
        values.append(corr[k])
        residual = residual - corr[k] * d[k]
    return chosen, values, np.linalg.norm(residual)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matching_pursuit_matches_textbook_and_is_not_omp(backend):
    signals, dictionary, true_indices = planted(200, 64, 256, 8, noise=0.0, seed=7)
    mp = matching_pursuit(signals, dictionary, sparsity=8, backend=backend)
    for n in range(0, 200, 20):
        chosen, values, residual = reference_matching_pursuit(signals[n].numpy(), dictionary.numpy(), 8)
        assert mp.indices[n].tolist() == chosen
        np.testing.assert_allclose(mp.values[n].numpy(), values, atol=1e-12)
        assert abs(mp.residual_norm[n].item() - residual) < 1e-12
    # On exactly 8-sparse data OMP finds the planted supports and zero residual; MP re-fits nothing.
    code = omp(signals, dictionary, sparsity=8, backend=backend)
    recovered = (code.indices.sort(1).values == true_indices.sort(1).values).all(1)
    exact = code.residual_norm < 1e-10 * signals.norm(dim=1)
    assert recovered.float().mean() > 0.9 and torch.equal(exact, recovered)
    assert (mp.residual_norm > 1e-3 * signals.norm(dim=1)).float().mean() > 0.9
    assert (code.residual_norm**2).sum() < 0.1 * (mp.residual_norm**2).sum()
    assert (mp.n_active == 8).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_matching_pursuit_takes_exactly_s_distinct_atoms_even_at_zero_residual(backend):
    signals = torch.cat([torch.zeros(2, 3), torch.randn(5, 3)]).double()
    dictionary = gaussian_dictionary(16, 3)
    mp = matching_pursuit(signals, dictionary, sparsity=6, backend=backend)
    assert (mp.n_active == 6).all()
    assert all(len(set(row)) == 6 and min(row) >= 0 for row in mp.indices.tolist())
    assert (mp.values[:2] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_returns_exactly_s_atoms_when_residual_is_nonzero(backend, dtype):
    # The norm-vs-squared-norm stopping bug stops after 2 atoms here: ‖x‖ ≈ 3 but ‖x‖² ≈ 9 is decremented.
    signals, dictionary, _ = planted(500, 64, 512, 8, noise=0.05, dtype=dtype)
    for tol in (None, 1e-6):
        code = omp(signals, dictionary, sparsity=8, tol=tol, backend=backend)
        assert (code.residual_norm > 0).all()
        assert (code.n_active == 8).all() and (code.indices >= 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rank_guard_stops_at_signal_dimension(backend, dtype, real_signals):
    pixels = real_signals[3][:4000].to(dtype)
    dictionary = gaussian_dictionary(16, 3, dtype=dtype)
    code = omp(pixels, dictionary, sparsity=4, backend=backend)
    three = omp(pixels, dictionary, sparsity=3, backend=backend)
    nonzero = pixels.norm(dim=1) > 0
    assert (code.n_active <= 3).all() and (code.n_active[nonzero] == 3).all()
    assert (code.indices[:, 3] == -1).all() and (code.values[:, 3] == 0).all()
    # The 4th slot changes nothing: same support and coefficients as S = 3, and no exploding values.
    assert torch.equal(code.indices[:, :3], three.indices)
    torch.testing.assert_close(code.values[:, :3], three.values)
    scale = pixels.norm(dim=1)
    eps = torch.finfo(dtype).eps
    assert (code.residual_norm <= 100 * eps * scale).all()
    fit_error = (pixels - code.reconstruct(dictionary)).norm(dim=1)
    assert (fit_error <= 100 * eps * scale).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_deficient_dictionary_stops_without_exploding(backend):
    rng = np.random.default_rng(4)
    plane = torch.from_numpy(rng.standard_normal((2, 5)))
    dictionary = unit_rows(torch.from_numpy(rng.standard_normal((8, 2))) @ plane)  # all atoms in a plane
    signals = torch.from_numpy(rng.standard_normal((50, 5)))
    code = omp(signals, dictionary, sparsity=5, backend=backend)
    assert (code.n_active == 2).all()
    q, _ = torch.linalg.qr(plane.T)
    outside = signals - signals @ q @ q.T
    torch.testing.assert_close(code.residual_norm, outside.norm(dim=1))
    assert code.values.abs().max() < 1e3


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_unit_atoms_are_normalised_and_values_rescaled(backend):
    signals, dictionary, _ = planted(100, 16, 40, 4, seed=9)
    scales = torch.linspace(0.2, 5.0, 40, dtype=torch.float64)
    unit = omp(signals, dictionary, sparsity=4, backend=backend)
    scaled = omp(signals, dictionary * scales[:, None], sparsity=4, backend=backend)
    assert torch.equal(unit.indices, scaled.indices)
    torch.testing.assert_close(scaled.values * scales[scaled.indices], unit.values)
    torch.testing.assert_close(scaled.reconstruct(dictionary * scales[:, None]), unit.reconstruct(dictionary))
    with_gram = omp(signals, dictionary * 3, sparsity=4, gram=9 * dictionary @ dictionary.T, backend=backend)
    assert torch.equal(with_gram.indices, unit.indices)
    torch.testing.assert_close(with_gram.values * 3, unit.values)


def test_sparse_code_dense_and_reconstruct_agree_and_carry_gradients():
    signals, dictionary, _ = planted(50, 16, 32, 3, seed=2)
    code = omp(signals, dictionary, sparsity=5, tol=0.05)
    assert (code.n_active < 5).any()  # some empty slots
    dense = code.to_dense(32)
    assert ((dense != 0).sum(1) == code.n_active).all()
    torch.testing.assert_close(code.reconstruct(dictionary), dense @ dictionary)
    torch.testing.assert_close((signals - code.reconstruct(dictionary)).norm(dim=1), code.residual_norm)
    leaf = dictionary.clone().requires_grad_(True)
    code.reconstruct(leaf).square().sum().backward()
    used = torch.zeros(32, dtype=torch.bool)
    used[code.indices[code.indices >= 0]] = True
    assert (leaf.grad[used].abs().sum(1) > 0).all() and (leaf.grad[~used] == 0).all()
    assert code.sparsity == 5


@pytest.mark.parametrize("coder", [omp, matching_pursuit])
@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_returns_empty_code(coder, backend):
    code = coder(torch.zeros(0, 8), unit_rows(torch.randn(16, 8)), sparsity=3, backend=backend)
    assert code.indices.shape == (0, 3) and code.values.shape == (0, 3)
    assert code.residual_norm.shape == (0,) and code.n_active.shape == (0,)


@pytest.mark.parametrize("coder", [omp, matching_pursuit])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [0.0, 1e-18, 1e-6, 1e12])
def test_finite_inputs_give_finite_scale_equivariant_codes(coder, backend, scale):
    signals, dictionary, _ = planted(64, 12, 24, 3, dtype=torch.float32, seed=11)
    code = coder(signals * scale, dictionary, sparsity=6, backend=backend)
    for tensor in (code.values, code.residual_norm):
        assert torch.isfinite(tensor).all()
    if scale in (1e-6, 1e12):
        unit = coder(signals, dictionary, sparsity=6, backend=backend)
        assert (code.indices == unit.indices).float().mean() > 0.99
        torch.testing.assert_close(code.residual_norm / scale, unit.residual_norm, rtol=1e-3, atol=1e-4)
    if scale == 0.0 and coder is omp:
        assert (code.n_active == 0).all()


@pytest.mark.parametrize("coder", [omp, matching_pursuit])
@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(sparsity=0), ValueError, "sparsity"),
        (dict(sparsity=17), ValueError, "sparsity must be at most the number of atoms K = 16"),
        (dict(sparsity=2.0), TypeError, "sparsity"),
        (dict(sparsity=True), TypeError, "sparsity"),
        (dict(signals=torch.randn(10, 7)), ValueError, "M = signals.shape"),
        (dict(signals=torch.randn(10)), ValueError, "signals must have shape"),
        (dict(dictionary=torch.randn(2, 16, 8)), ValueError, "dictionary must have shape"),
        (dict(signals=torch.full((10, 8), float("nan"))), ValueError, "signals must be finite"),
        (dict(dictionary=torch.full((16, 8), float("inf"))), ValueError, "dictionary must be finite"),
        (dict(dictionary=torch.cat([torch.randn(15, 8), torch.zeros(1, 8)])), ValueError, "zero-norm"),
        (dict(signals=torch.ones(10, 8, dtype=torch.long)), TypeError, "signals"),
        (dict(signals=torch.ones(10, 8).numpy()), TypeError, "signals"),
        (dict(signals=torch.ones(10, 8, dtype=torch.float16)), TypeError, "float32 or float64"),
        (dict(dictionary=torch.ones(16, 8, dtype=torch.int32)), TypeError, "dictionary"),
        (dict(dictionary=torch.randn(16, 8, dtype=torch.float64)), TypeError, "dtype of signals"),
        (dict(backend="cuda"), ValueError, "backend"),
    ],
)
def test_bad_input_names_the_argument(coder, change, error, match):
    arguments = dict(signals=torch.randn(10, 8), dictionary=torch.randn(16, 8), sparsity=3) | change
    with pytest.raises(error, match=match):
        coder(**arguments)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(tol=-1.0), ValueError, "tol"),
        (dict(tol=float("nan")), ValueError, "tol"),
        (dict(tol=float("inf")), ValueError, "tol"),
        (dict(tol="0.1"), TypeError, "tol"),
        (dict(gram=torch.eye(15)), ValueError, "gram must be"),
        (dict(gram=torch.eye(16, dtype=torch.float64)), TypeError, "gram"),
    ],
)
def test_bad_omp_options_name_the_argument(change, error, match):
    arguments = dict(signals=torch.randn(10, 8), dictionary=torch.randn(16, 8), sparsity=3) | change
    with pytest.raises(error, match=match):
        omp(**arguments)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_guard_rejects_an_atom_in_the_span_of_the_support(backend):
    # d2 lies in span(e0, e1) up to 1e-7: its correlation with the residual is above round-off, its Cholesky
    # pivot is not. Taking it would explain the 1e-3 off-plane residual with coefficients of order 1e4.
    e = torch.eye(3, dtype=torch.float64)
    d2 = unit_rows((e[0] - e[1] + 1e-7 * e[2])[None])[0]
    dictionary = torch.stack([e[0], e[1], d2])
    signals = (e[0] + 2 * e[1] + 1e-3 * e[2])[None]  # picks e1, then e0, then d2 is next
    code = omp(signals, dictionary, sparsity=3, backend=backend)
    assert code.n_active.item() == 2 and code.values.abs().max() < 10
    torch.testing.assert_close(code.residual_norm, torch.tensor([1e-3], dtype=torch.float64))
    assert_same_codes(code, sklearn_omp(signals, dictionary, sparsity=3), atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_code_runs_the_solver_it_names(solver):
    signals, dictionary, _ = planted(50, 8, 16, 3, seed=9)
    coder = {"omp": omp, "mp": matching_pursuit}[solver]
    ours, reference = (
        code(signals, dictionary, sparsity=3, solver=solver),
        coder(signals, dictionary, sparsity=3),
    )
    assert torch.equal(ours.indices, reference.indices) and torch.equal(ours.values, reference.values)
    assert torch.equal(ours.n_active, (ours.indices >= 0).sum(1))


def test_code_rejects_an_unknown_solver_and_tol_for_matching_pursuit():
    signals, dictionary = torch.randn(4, 8), torch.randn(16, 8)
    with pytest.raises(ValueError, match=r"solver must be one of \['omp', 'mp'\]; got 'lasso'"):
        code(signals, dictionary, sparsity=2, solver="lasso")
    with pytest.raises(ValueError, match="tol applies to solver 'omp' only"):
        code(signals, dictionary, sparsity=2, solver="mp", tol=0.1)
