"""Compiled per-signal kernels for the CPU path of :mod:`laserlab.sparse.omp` (numba).

Imported lazily by ``omp.py``; nothing else should import it. Each kernel walks a range of signals, one
signal at a time, with all of that signal's state (K correlations, S×K orthogonalised-atom correlations,
S×S Cholesky factor) in L1/L2 cache, so a step costs a few passes over K numbers instead of a few passes over
an N×K tensor. The correlations ``corr = X Dᵀ`` come in precomputed by one BLAS matmul.

Arrays are numpy views of torch tensors; float32 and float64 compile separately (cached on disk).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from numba.core.errors import NumbaWarning


def _jit(function, **options):
    """``njit(cache=True, nogil=True)``, or an in-memory compile when no cache directory is writable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NumbaWarning)
            return njit(cache=True, nogil=True, **options)(function)
    except (RuntimeError, NumbaWarning, OSError):
        return njit(cache=False, nogil=True, **options)(function)


def _omp(
    signals, atoms, norms, corr, gram, sparsity, tol, tiny, low, high, indices, values, residual_norm, outside
):
    """Batch-OMP (Rubinstein et al. 2008) for every row of ``signals``; see ``omp.omp`` for the maths.

    ``atoms`` (K, M) unit-norm, ``norms`` (K,) the norms of the atoms as the caller gave them (values are
    written for those), ``corr`` (N, K) = signals @ atomsᵀ, ``gram`` (K, K) = atoms @ atomsᵀ.
    Writes ``indices``/``values`` (N, S) (slots past the support: -1 / 0), ``residual_norm`` (N,) and
    ``outside`` (N,). ``tol`` (N,) holds each signal's squared-residual target (-inf: none), ``tiny`` the
    relative round-off level below which a correlation (relative to ‖x‖) or a squared Cholesky pivot
    counts as zero. A signal whose max |x| is non-zero and outside [``low``, ``high``] is left uncoded (its
    squares could overflow or underflow) and its max |x| written to ``outside`` (0 for every other
    signal): the caller codes it again, rescaled.

    Instead of re-solving L Lᵀ γ = α⁰_I and refreshing α = α⁰ − G_I γ at every step, the kernel keeps
    u_t = Dᵀ q_t, the correlations of the Gram–Schmidt-orthonormalised atoms q_t (rows of ``basis``). The
    new Cholesky row is w_t = u_t[k] (the same recurrence as the forward substitution), the pivot is
    sqrt(G_kk − ‖w‖²), u_s = (G_k − Σ w_t u_t) / pivot and z_s = α_k / pivot = ⟨q_s, x⟩, after which
    α ← α − z_s u_s and ‖r‖² ← ‖r‖² − z_s². One back substitution Lᵀ γ = z gives the coefficients at the end.
    """
    n_signals = signals.shape[0]
    n_atoms = gram.shape[0]
    dtype = corr.dtype
    alpha = np.empty(n_atoms, dtype)
    basis = np.empty((sparsity, n_atoms), dtype)
    chol = np.zeros((sparsity, sparsity), dtype)
    proj = np.empty(sparsity, dtype)
    coef = np.empty(sparsity, dtype)
    # Plain element indexing throughout: every array view (row slice) costs a reference-count round
    # trip, which dominated the per-signal time at small K.
    for n in range(n_signals):
        energy, in_range = _measure(signals, n, low, high, outside)
        # Stop once every correlation is at round-off level of the signal: nothing left to explain.
        floor = tiny * tiny * energy
        for j in range(n_atoms):
            alpha[j] = corr[n, j]
        s = 0
        while in_range and s < sparsity and energy > tol[n]:
            k = 0
            best = abs(alpha[0])
            for j in range(1, n_atoms):
                a = abs(alpha[j])
                if a > best:
                    best = a
                    k = j
            if best * best <= floor:
                break
            reselected = False
            for t in range(s):
                if indices[n, t] == k:
                    reselected = True
            if reselected:
                break
            pivot2 = gram[k, k]
            for t in range(s):
                w = basis[t, k]
                chol[s, t] = w
                pivot2 -= w * w
            # Rank guard: atom k lies (numerically) in the span of the chosen ones.
            if pivot2 <= tiny * gram[k, k]:
                break
            pivot = np.sqrt(pivot2)
            chol[s, s] = pivot
            for j in range(n_atoms):
                basis[s, j] = gram[k, j]
            for t in range(s):
                w = chol[s, t]
                for j in range(n_atoms):
                    basis[s, j] -= w * basis[t, j]
            inv = dtype.type(1) / pivot
            z = alpha[k] * inv
            for j in range(n_atoms):
                u = basis[s, j] * inv
                basis[s, j] = u
                alpha[j] -= z * u
            proj[s] = z
            energy -= z * z
            indices[n, s] = k
            s += 1
        for t in range(s - 1, -1, -1):
            acc = proj[t]
            for r in range(t + 1, s):
                acc -= chol[r, t] * coef[r]
            coef[t] = acc / chol[t, t]
        _finish(n, s, signals, atoms, norms, coef, indices, values, residual_norm)


def _matching_pursuit(
    signals, atoms, norms, corr, gram, sparsity, low, high, indices, values, residual_norm, outside
):
    """Greedy matching pursuit with no re-selection: exactly ``sparsity`` distinct atoms per signal.

    The correlations are kept current with the Gram matrix (α ← α − c G_k) instead of the residual.
    ``low``, ``high`` and ``outside`` as in ``_omp``: a signal out of range is left uncoded.
    """
    n_signals = signals.shape[0]
    n_atoms = gram.shape[0]
    dtype = corr.dtype
    alpha = np.empty(n_atoms, dtype)
    taken = np.zeros(n_atoms, np.bool_)
    coef = np.empty(sparsity, dtype)
    for n in range(n_signals):
        _, in_range = _measure(signals, n, low, high, outside)
        steps = sparsity if in_range else 0
        for j in range(n_atoms):
            alpha[j] = corr[n, j]
        for s in range(steps):
            k = -1
            best = dtype.type(-1)
            for j in range(n_atoms):
                a = abs(alpha[j])
                if a > best and not taken[j]:
                    best = a
                    k = j
            c = alpha[k]
            taken[k] = True
            indices[n, s] = k
            coef[s] = c
            for j in range(n_atoms):
                alpha[j] -= c * gram[k, j]
        for s in range(steps):
            taken[indices[n, s]] = False
        _finish(n, steps, signals, atoms, norms, coef, indices, values, residual_norm)


def _measure(signals, n, low, high, outside):
    """‖x‖² of signal n and whether its max |x| is 0 or within [``low``, ``high``]; writes that max |x| to
    ``outside[n]`` when it is not, else 0."""
    energy = signals.dtype.type(0)
    peak = signals.dtype.type(0)
    for m in range(signals.shape[1]):
        v = signals[n, m]
        energy += v * v
        if abs(v) > peak:
            peak = abs(v)
    in_range = peak <= high and (peak >= low or peak == 0)
    outside[n] = 0 if in_range else peak
    return energy, in_range


def _finish(n, s, signals, atoms, norms, coef, indices, values, residual_norm):
    """Write signal n's code (empty slots -1 / 0) and its exact residual norm ‖x − D_I γ‖.

    ``coef`` are coefficients of the unit-norm atoms; the stored values are for the atoms as given.
    """
    dim = signals.shape[1]
    energy = signals.dtype.type(0)
    for m in range(dim):
        r = signals[n, m]
        for t in range(s):
            r -= coef[t] * atoms[indices[n, t], m]
        energy += r * r
    residual_norm[n] = np.sqrt(energy)
    for t in range(s):
        values[n, t] = coef[t] / norms[indices[n, t]]
    for t in range(s, indices.shape[1]):
        indices[n, t] = -1
        values[n, t] = 0


def _approximate_ksvd_sweep(residual, atoms, values, order, offsets, sparsity):
    """One approximate K-SVD sweep in place: ``residual`` (N, M), ``atoms`` (K, M), ``values`` (N·S,).

    ``order`` lists the slots (n·S + s) sorted by atom, atom k's users being order[offsets[k]:offsets[k+1]].
    Same arithmetic as ``ksvd._sweep_torch`` with ``approximate=True``.
    """
    n_atoms, dim = atoms.shape
    dtype = atoms.dtype
    new_d = np.empty(dim, dtype)
    for k in range(n_atoms):
        start, stop = offsets[k], offsets[k + 1]
        if start == stop:
            continue
        d = atoms[k]
        new_d[:] = 0
        gg = dtype.type(0)
        for p in range(start, stop):
            slot = order[p]
            g = values[slot]
            r = residual[slot // sparsity]
            gg += g * g
            for m in range(dim):
                new_d[m] += g * r[m]
        norm = dtype.type(0)
        for m in range(dim):
            new_d[m] += gg * d[m]
            norm += new_d[m] * new_d[m]
        if norm > 0:
            new_d /= np.sqrt(norm)
        else:  # every user's coefficient and residual is 0: keep the atom's direction, at unit norm
            norm = dtype.type(0)
            for m in range(dim):
                norm += d[m] * d[m]
            new_d[:] = d / np.sqrt(norm)
        dd = dtype.type(0)
        for m in range(dim):
            dd += d[m] * new_d[m]
        for p in range(start, stop):
            slot = order[p]
            g = values[slot]
            r = residual[slot // sparsity]
            new_g = g * dd
            for m in range(dim):
                new_g += r[m] * new_d[m]
            for m in range(dim):
                r[m] += g * d[m] - new_g * new_d[m]
            values[slot] = new_g
        atoms[k] = new_d


_measure = _jit(_measure, inline="always")
_finish = _jit(_finish, inline="always")
omp_kernel = _jit(_omp)
matching_pursuit_kernel = _jit(_matching_pursuit)
approximate_ksvd_kernel = _jit(_approximate_ksvd_sweep)
