"""Online dictionary learning and atom hygiene."""

from __future__ import annotations

import pytest
import torch
from sparse_data import planted, unit_rows

from laserlab.sparse import (
    OnlineState,
    SparseCode,
    coherent_atoms,
    kmeans,
    omp,
    online_init,
    online_update,
    replace_unused_atoms,
)


def test_statistics_are_the_decayed_code_moments():
    signals, dictionary, _ = planted(200, 10, 30, 3, seed=1)
    state = online_init(dictionary)
    batches = [signals[:120], signals[120:]]
    codes = [omp(batch, dictionary, sparsity=3) for batch in batches]
    for batch, code in zip(batches, codes, strict=True):
        state = online_update(state, batch, code, forgetting=0.5, replace_unused=False)
    dense = [code.to_dense(30) for code in codes]
    expected_a = 0.5 * dense[0].T @ dense[0] / 120 + dense[1].T @ dense[1] / 80
    expected_b = 0.5 * dense[0].T @ batches[0] / 120 + dense[1].T @ batches[1] / 80
    torch.testing.assert_close(state.A, expected_a)
    torch.testing.assert_close(state.B, expected_b)
    frequency = [(d != 0).double().mean(0) for d in dense]
    torch.testing.assert_close(state.usage, 0.5 * frequency[0] + 0.5 * frequency[1])
    assert state.steps == 2
    torch.testing.assert_close(state.dictionary.norm(dim=1), torch.ones(30, dtype=torch.float64))


def test_online_learning_recovers_a_planted_dictionary():
    signals, truth, _ = planted(3000, 20, 50, 3, noise=0.01, seed=2, dtype=torch.float32)
    truth = truth.float()
    generator = torch.Generator().manual_seed(0)
    state = online_init(kmeans(signals, 50, iterations=0, normalize=True, generator=generator).centroids)
    initial_error = omp(signals, state.dictionary, sparsity=3).residual_norm.square().sum()
    for _epoch in range(8):
        for batch in signals.split(250):
            code = omp(batch, state.dictionary, sparsity=3)
            state = online_update(state, batch, code, forgetting=0.9, max_coherence=0.95)
    final_error = omp(signals, state.dictionary, sparsity=3).residual_norm.square().sum()
    recovered = ((truth @ state.dictionary.T).abs().amax(dim=1) > 0.99).float().mean()
    assert recovered >= 0.8
    assert final_error < 0.1 * initial_error


def test_unused_atoms_are_replaced_by_the_worst_represented_signals():
    signals, dictionary, _ = planted(60, 6, 12, 2, seed=3)
    dictionary[7] = unit_rows(torch.ones(1, 6, dtype=torch.float64))[0]
    code = omp(signals, dictionary, sparsity=2)
    code.values[code.indices == 7] = 0  # nobody uses atom 7
    code.indices[code.indices == 7] = -1
    state = online_update(online_init(dictionary), signals, code, replace_unused=True, min_usage=1e-6)
    worst = code.residual_norm.argmax()
    torch.testing.assert_close(state.dictionary[7], signals[worst] / signals[worst].norm())
    assert (state.A[7] == 0).all() and (state.B[7] == 0).all() and state.usage[7] > 0

    unused = torch.zeros(12, dtype=torch.bool)
    unused[[2, 5]] = True
    replaced = replace_unused_atoms(dictionary, signals, code.residual_norm, unused)
    order = code.residual_norm.argsort(descending=True)
    torch.testing.assert_close(replaced[2], unit_rows(signals[order[0]][None])[0])
    torch.testing.assert_close(replaced[5], unit_rows(signals[order[1]][None])[0])
    assert torch.equal(replaced[~unused], dictionary[~unused])
    zero = torch.zeros_like(signals)  # zero signals never become atoms
    assert torch.equal(replace_unused_atoms(dictionary, zero, code.residual_norm, unused), dictionary)


def test_coherent_atoms_flags_the_less_used_of_a_pair():
    dictionary = unit_rows(
        torch.randn(6, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    )
    dictionary[4] = unit_rows((dictionary[1] + 0.01 * dictionary[2])[None])[0]
    usage = torch.tensor([5.0, 1.0, 5.0, 5.0, 3.0, 5.0], dtype=torch.float64)
    assert coherent_atoms(dictionary, usage, max_coherence=0.99).tolist() == [0, 1, 0, 0, 0, 0]
    usage[1] = 3.0  # a tie: the higher index goes
    assert coherent_atoms(dictionary, usage, max_coherence=0.99).tolist() == [0, 0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="max_coherence"):
        coherent_atoms(dictionary, usage, max_coherence=1.5)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: online_init(torch.zeros(4, 3)), ValueError, "zero-norm"),
        (lambda: online_update("state", torch.randn(5, 3), None), TypeError, "state"),
        (
            lambda: online_update(online_init(torch.randn(4, 3)), torch.randn(5, 2), None),
            ValueError,
            "signals",
        ),
        (lambda: online_update(online_init(torch.randn(4, 3)), torch.randn(5, 3), None), TypeError, "code"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_replacement_needs_residual_norms_and_options_are_checked():
    signals, dictionary = torch.randn(5, 3), unit_rows(torch.randn(4, 3))
    state = online_init(dictionary)
    code = omp(signals, dictionary, sparsity=2)
    without_residuals = SparseCode(code.indices, code.values)
    with pytest.raises(ValueError, match=r"code\.residual_norm is needed"):
        online_update(state, signals, without_residuals)
    assert isinstance(online_update(state, signals, without_residuals, replace_unused=False), OnlineState)
    with pytest.raises(TypeError, match="replace_unused must be a bool"):
        online_update(state, signals, code, replace_unused=1)
    with pytest.raises(ValueError, match="min_usage"):
        online_update(state, signals, code, min_usage=-0.1)


def test_bad_forgetting_is_rejected():
    signals, dictionary = torch.randn(5, 3), unit_rows(torch.randn(4, 3))
    state = online_init(dictionary)
    code = omp(signals, dictionary, sparsity=2)
    for forgetting in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="forgetting"):
            online_update(state, signals, code, forgetting=forgetting)
    assert isinstance(online_update(state, signals, code, forgetting=1.0), OnlineState)
