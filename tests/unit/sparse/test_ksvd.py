"""K-SVD sweeps against a plain numpy reference (full SVD per atom), monotonicity, signs, recovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sparse_data import planted, unit_rows

from laserlab.sparse import SparseCode, ksvd_update, omp, replace_unused_atoms

BACKENDS = ["numba", "torch"]


def reference_sweep(x, d, indices, values, *, approximate):
    """Textbook K-SVD sweep in numpy, atom-major, with np.linalg.svd for the exact update."""
    d, values = d.copy(), values.copy()
    gamma = np.zeros((len(d), len(x)))
    rows, slots = np.nonzero(indices >= 0)
    gamma[indices[rows, slots], rows] = values[rows, slots]
    residual = x.T - d.T @ gamma  # (M, N)
    for k in range(len(d)):
        users = np.nonzero(gamma[k])[0]
        if len(users) == 0:
            continue
        e = residual[:, users] + np.outer(d[k], gamma[k, users])
        if approximate:
            atom = e @ gamma[k, users]
            atom /= np.linalg.norm(atom)
            coef = e.T @ atom
        else:
            u, s, vt = np.linalg.svd(e, full_matrices=False)
            sign = 1.0 if u[:, 0] @ d[k] >= 0 else -1.0
            atom, coef = sign * u[:, 0], sign * s[0] * vt[0]
        d[k], gamma[k, users] = atom, coef
        residual[:, users] = e - np.outer(atom, coef)
    return d, gamma, np.linalg.norm(residual, axis=0)


@pytest.mark.parametrize(("approximate", "backend"), [(False, "auto"), (True, "numba"), (True, "torch")])
def test_sweep_matches_numpy_reference(backend, approximate):
    # K = 64 atoms over 300 4-sparse codes: ~19 users per atom, so both the EᵀE (users ≥ M = 16) and the
    # E Eᵀ (users < M) branches of the exact update run.
    signals, truth, _ = planted(300, 16, 64, 4, noise=0.1, seed=1)
    dictionary = unit_rows(truth + 0.3 * torch.randn(truth.shape, dtype=torch.float64))
    code = omp(signals, dictionary, sparsity=4)
    users = torch.bincount(code.indices.flatten(), minlength=64)
    assert (users >= 16).any() and ((users > 0) & (users < 16)).any()
    update = ksvd_update(signals, dictionary, code, approximate=approximate, backend=backend)
    d_ref, gamma_ref, residual_ref = reference_sweep(
        signals.numpy(),
        dictionary.numpy(),
        code.indices.numpy(),
        code.values.numpy(),
        approximate=approximate,
    )
    np.testing.assert_allclose(update.dictionary.numpy(), d_ref, atol=1e-9)
    np.testing.assert_allclose(update.code.to_dense(64).numpy(), gamma_ref.T, atol=1e-9)
    np.testing.assert_allclose(update.code.residual_norm.numpy(), residual_ref, atol=1e-9)
    torch.testing.assert_close(
        update.code.residual_norm, (signals - update.code.reconstruct(update.dictionary)).norm(dim=1)
    )
    assert torch.equal(update.code.indices, code.indices)
    torch.testing.assert_close(update.dictionary.norm(dim=1), torch.ones(64, dtype=torch.float64))


def test_exact_and_approximate_differ_and_both_lower_the_error():
    signals, truth, _ = planted(400, 16, 48, 4, noise=0.1, seed=2)
    # seeded: over a whole sweep the exact update beats the approximate one on most draws, not on all
    noise = torch.randn(truth.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dictionary = unit_rows(truth + 0.5 * noise)
    code = omp(signals, dictionary, sparsity=4)
    exact = ksvd_update(signals, dictionary, code)
    approximate = ksvd_update(signals, dictionary, code, approximate=True)
    before = code.residual_norm.square().sum()
    exact_error = exact.code.residual_norm.square().sum()
    approximate_error = approximate.code.residual_norm.square().sum()
    assert exact_error < approximate_error < before  # the rank-1 SVD is the best update of each atom
    assert (exact.dictionary - approximate.dictionary).abs().max() > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_users_with_negative_coefficients_count(backend):
    # Atom 0 is used only with negative coefficients; a positive-only user set would leave it untouched.
    signals, truth, indices = planted(400, 12, 24, 3, noise=0.0, seed=4)
    values = torch.linalg.lstsq(truth[indices].transpose(1, 2), signals[..., None]).solution[..., 0]
    values = torch.where(indices == 0, -values.abs() - 0.5, values)
    signals = torch.einsum("ns,nsm->nm", values, truth[indices])
    code = SparseCode(indices, values)
    assert (values[indices == 0] < 0).all() and (indices == 0).any()
    perturbed = truth.clone()
    perturbed[0] = unit_rows((truth[0] + 0.3 * torch.randn(12, dtype=torch.float64))[None])[0]
    for approximate in (False, True):
        update = ksvd_update(signals, perturbed, code, approximate=approximate, backend=backend)
        assert (update.dictionary[0] @ truth[0]).abs() > (perturbed[0] @ truth[0]).abs() + 0.01


@pytest.mark.parametrize("backend", BACKENDS)
def test_unused_atoms_are_reported_and_left_alone(backend):
    signals, dictionary, _ = planted(100, 8, 16, 2, seed=5)
    code = omp(signals, dictionary, sparsity=2)
    code.indices[code.indices == 3] = 4  # nobody uses atom 3 any more
    update = ksvd_update(signals, dictionary, code, backend=backend)
    assert (
        not update.used[3]
        and update.used.sum() == (torch.bincount(code.indices.flatten(), minlength=16) > 0).sum()
    )
    assert torch.equal(update.dictionary[3], dictionary[3])


@pytest.mark.parametrize("approximate", [False, True])
def test_alternating_omp_and_ksvd_recovers_a_planted_dictionary(approximate):
    # Aharon et al.'s synthetic experiment, scaled down: 20×50 dictionary, 3-sparse codes, 30 iterations.
    signals, truth, _ = planted(1500, 20, 50, 3, noise=0.01, seed=6, dtype=torch.float32)
    truth = truth.float()
    generator = torch.Generator().manual_seed(0)
    dictionary = unit_rows(signals[torch.randperm(1500, generator=generator)[:50]])
    initial_error = omp(signals, dictionary, sparsity=3).residual_norm.square().sum()
    for _ in range(30):
        code = omp(signals, dictionary, sparsity=3)
        update = ksvd_update(signals, dictionary, code, approximate=approximate)
        dictionary = replace_unused_atoms(update.dictionary, signals, update.code.residual_norm, ~update.used)
    final_error = omp(signals, dictionary, sparsity=3).residual_norm.square().sum()
    recovered = ((truth @ dictionary.T).abs().amax(dim=1) > 0.99).float().mean()
    assert recovered >= 0.8
    assert final_error < 0.1 * initial_error


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(signals=torch.randn(10, 7)), ValueError, "M = signals.shape"),
        (dict(signals=torch.ones(10, 8, dtype=torch.long)), TypeError, "signals"),
        (dict(dictionary=torch.randn(16, 8, dtype=torch.float64)), TypeError, "dictionary"),
        (dict(signals=torch.full((10, 8), float("nan"))), ValueError, "signals must be finite"),
        (dict(code="codes"), TypeError, "code must be a SparseCode"),
        (dict(backend="gpu"), ValueError, "backend"),
    ],
)
def test_bad_input_names_the_argument(change, error, match):
    signals, dictionary = torch.randn(10, 8), unit_rows(torch.randn(16, 8))
    arguments = (
        dict(signals=signals, dictionary=dictionary, code=omp(signals, dictionary, sparsity=2)) | change
    )
    with pytest.raises(error, match=match):
        ksvd_update(**arguments)


def test_bad_code_shapes_are_rejected():
    signals, dictionary = torch.randn(10, 8), unit_rows(torch.randn(16, 8))
    code = omp(signals, dictionary, sparsity=2)
    with pytest.raises(ValueError, match="one row per signal"):
        ksvd_update(signals[:5], dictionary, code)
    bad = SparseCode(code.indices + 20, code.values, code.residual_norm)
    with pytest.raises(ValueError, match=r"code.indices must lie in \[-1, K\)"):
        ksvd_update(signals, dictionary, bad)
