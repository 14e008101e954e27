"""K-SVD dictionary update (Aharon, Elad & Bruckstein 2006), exact and approximate (Rubinstein et al. 2008).

One sweep updates every atom in turn, each seeing the residual left by the atoms updated before it
(Gauss–Seidel), and rewrites the coefficients of the atom's users; the supports stay fixed. Everything is
stored **signal-major**: the residual R = X − Γ D as (N, M) and the code as (N, S) index/value slots, so an
atom's users are a contiguous row gather. The users of every atom come from one sort of the support (a CSR
transpose) whose offsets are read to the host once per sweep; inside the sweep nothing waits for the device,
except that on CUDA the exact path's dense eigensolver synchronises once per atom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..checks import check_bool, check_float_tensor
from ..scaling import in_safe_range, ldexp, peak, row_norms
from ._backend import check_backend, kernels, use_numba
from .omp import SparseCode, check_atoms, check_code, combine_atoms


@dataclass
class DictionaryUpdate:
    """Result of a dictionary update.

    ``dictionary`` (K, M): updated atoms, unit-norm rows (atoms without users are returned unchanged; an
    atom whose users all have zero coefficients and zero residuals keeps its direction, normalised);
    ``code``: the input supports with updated coefficients and the residual norms ‖x − D γ‖ of the new fit;
    ``used`` (K,) bool: atoms that had at least one user.
    """

    dictionary: torch.Tensor
    code: SparseCode
    used: torch.Tensor


@torch.no_grad()
def ksvd_update(
    signals: torch.Tensor,
    dictionary: torch.Tensor,
    code: SparseCode,
    *,
    approximate: bool = False,
    backend: str = "auto",
) -> DictionaryUpdate:
    """One K-SVD sweep over all atoms of ``dictionary`` for ``signals`` coded by ``code``.

    For atom k with users ω (the signals whose support contains k, whatever the sign of the coefficient)
    and E = R_ω + γ_ω d_kᵀ (the users' residuals with atom k's contribution put back):
      - exact: (d_k, γ_ω) ← the best rank-1 approximation of E (top singular triplet; computed from the
        eigenvector of the smaller of EᵀE and E Eᵀ, with the sign that keeps ⟨d_new, d_old⟩ ≥ 0);
      - approximate: one power step from the current coefficients, d_k ← Eᵀγ_ω / ‖Eᵀγ_ω‖, γ_ω ← E d_k,
        evaluated as Rᵀγ + d(γᵀγ) and R d + γ(dᵀd_new) without forming E.
    Then R_ω ← E − γ_ω d_kᵀ. Atoms without users are left as they are (replace them with
    :func:`laserlab.sparse.replace_unused_atoms`).

    The sweep is scale-equivariant and computed so: when the signals, coefficients or atoms have magnitudes
    outside :func:`laserlab.scaling.safe_range` (where squares could overflow or underflow), the atoms are
    normalised (their coefficients rescaled to match) and signals and coefficients brought to magnitude ~1
    by one exact power of two, which is undone on the result. A result that cannot be represented in the
    dtype is a ``ValueError``. An empty batch (N = 0) changes nothing.

    Args:
        signals: (N, M) float32 or float64.
        dictionary: (K, M), same dtype and device; the code's coefficients refer to these rows as given.
        code: a :class:`SparseCode` of ``signals`` over ``dictionary`` (from :func:`omp` or elsewhere).
        approximate: use the approximate update (one power step per atom) instead of the exact one.
        backend: for the approximate update, "auto" (a compiled numba sweep on CPU when numba imports,
            torch otherwise), "numba" or "torch"; both run the same arithmetic. The exact update always
            runs torch: its cost is the per-atom dense eigensolver, not the loop around it.

    Returns:
        :class:`DictionaryUpdate`.
    """
    check_bool(approximate, "approximate")
    scale = _check_update_inputs(signals, dictionary, code, backend)
    num_atoms = dictionary.shape[0]
    n_signals, sparsity = code.indices.shape
    atoms = dictionary.detach().clone(memory_format=torch.contiguous_format)
    values = code.values.detach().clone()
    signals = signals.detach()
    if scale is not None:
        norms, shift = scale
        if norms is not None:
            atoms = atoms / norms[:, None]
            values = values * norms[code.indices.clamp(min=0)]
        values, signals = ldexp(values, -shift), ldexp(signals, -shift)
    residual = signals - combine_atoms(code.indices, values, atoms)
    values = values.reshape(-1)

    flat = code.indices.reshape(-1)
    valid = flat >= 0
    order = torch.argsort(torch.where(valid, flat, num_atoms), stable=True)
    counts = torch.bincount(flat[valid], minlength=num_atoms)
    offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    if approximate and use_numba(signals, backend):
        arrays = (residual.numpy(), atoms.numpy(), values.numpy(), order.numpy(), offsets.numpy())
        kernels().approximate_ksvd_kernel(*arrays, sparsity)
    else:
        _sweep_torch(residual, atoms, values, order, offsets.tolist(), sparsity, approximate)

    used = counts > 0
    values = values.reshape(n_signals, sparsity)
    residual_norm = torch.linalg.vector_norm(residual, dim=1)
    if scale is not None:
        values, residual_norm = ldexp(values, shift), ldexp(residual_norm, shift)
        atoms = torch.where(used[:, None], atoms, dictionary.detach())
        if not bool(torch.isfinite(values).all() & torch.isfinite(residual_norm).all()):
            raise ValueError(
                f"the updated code cannot be represented in {signals.dtype}: a coefficient or a residual "
                "norm exceeds the dtype's range; rescale the signals, or use float64"
            )
    updated = SparseCode(indices=code.indices, values=values, residual_norm=residual_norm)
    return DictionaryUpdate(dictionary=atoms, code=updated, used=used)


def _sweep_torch(
    residual: torch.Tensor,
    atoms: torch.Tensor,
    values: torch.Tensor,
    order: torch.Tensor,
    offsets: list[int],
    sparsity: int,
    approximate: bool,
) -> None:
    """The sweep in place with torch ops (any device); ``offsets`` on the host is the sweep's one sync."""
    rows_of = order // sparsity
    for k in range(atoms.shape[0]):
        start, stop = offsets[k], offsets[k + 1]
        if start == stop:
            continue
        slots, rows = order[start:stop], rows_of[start:stop]
        # index_select / index_copy_: several times faster than advanced indexing for row gathers.
        g, d = values.index_select(0, slots), atoms[k]
        users = residual.index_select(0, rows)
        if approximate:
            new_d = users.T @ g + d * (g @ g)
            norm = torch.linalg.vector_norm(new_d)
            # every user's coefficient and residual is 0: keep the atom's direction, at unit norm
            new_d = torch.where(norm > 0, new_d / norm, d / torch.linalg.vector_norm(d))
            new_g = users @ new_d + g * (d @ new_d)
            users += torch.outer(g, d) - torch.outer(new_g, new_d)
        else:
            users += torch.outer(g, d)  # E
            new_d = _top_right_singular_vector(users, d)
            new_g = users @ new_d
            users -= torch.outer(new_g, new_d)
        residual.index_copy_(0, rows, users)
        atoms[k] = new_d
        values.index_copy_(0, slots, new_g)


def _top_right_singular_vector(e: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """v₁ of E (n, M), unit norm, signed so that ⟨v₁, previous⟩ ≥ 0; ``previous`` normalised when E = 0."""
    n, dim = e.shape
    if n >= dim:
        eigenvalues, eigenvectors = torch.linalg.eigh(e.T @ e)
        v = eigenvectors[:, -1]
    else:
        eigenvalues, eigenvectors = torch.linalg.eigh(e @ e.T)
        v = e.T @ eigenvectors[:, -1] / eigenvalues[-1].clamp(min=torch.finfo(e.dtype).tiny).sqrt()
    v = torch.where(eigenvalues[-1] > 0, v, previous / torch.linalg.vector_norm(previous))
    return torch.where(v @ previous < 0, -v, v)


def _check_update_inputs(
    signals: torch.Tensor, dictionary: torch.Tensor, code: SparseCode, backend: str
) -> tuple[torch.Tensor | None, int] | None:
    """Validate the arguments; return None when every magnitude is in the safe range, else the atom norms
    (K,) — None when the atoms are in the safe range and need no normalising — and the power-of-two exponent
    that brings signals and coefficients (of the normalised atoms) to magnitude ~1."""
    check_float_tensor(signals, "signals")
    check_float_tensor(dictionary, "dictionary")
    if signals.dim() != 2:
        raise ValueError(f"signals must have shape (N, M); got {tuple(signals.shape)}")
    if dictionary.dim() != 2 or dictionary.shape[1] != signals.shape[1] or 0 in dictionary.shape:
        raise ValueError(
            f"dictionary must have shape (K, M) with K >= 1 and M = signals.shape[1] = {signals.shape[1]} "
            f">= 1; got {tuple(dictionary.shape)}"
        )
    if dictionary.dtype != signals.dtype or dictionary.device != signals.device:
        raise TypeError(
            f"dictionary must have the dtype and device of signals ({signals.dtype}, {signals.device}); "
            f"got {dictionary.dtype}, {dictionary.device}"
        )
    check_code(code, "code", num_atoms=dictionary.shape[0], rows=signals.shape[0], dtype=signals.dtype)
    check_backend(backend, signals)
    _, atom_smallest, atom_largest = check_atoms(dictionary)
    if signals.shape[0] == 0:
        return None
    _, signal_smallest, signal_largest = peak(signals, "signals")
    _, value_smallest, value_largest = peak(code.values, "code.values")
    dtype = signals.dtype
    if all(
        in_safe_range(low, high, dtype)
        for low, high in ((signal_smallest, signal_largest), (value_smallest, value_largest),
                          (atom_smallest, atom_largest))
    ):  # fmt: skip
        return None
    norms, largest = None, max(signal_largest, value_largest)
    if not in_safe_range(atom_smallest, atom_largest, dtype):
        norms = row_norms(dictionary.detach())
        if not bool(torch.isfinite(norms).all()):
            raise ValueError(f"dictionary has atoms whose norm exceeds the range of {dtype}; rescale it")
        scaled_values = code.values.detach().abs() * norms[code.indices.clamp(min=0)]
        largest = max(signal_largest, float(scaled_values.max()) if scaled_values.numel() else 0.0)
        if not largest < float("inf"):
            raise ValueError(
                f"code.values times the atom norms exceed the range of {dtype}; rescale the code"
            )
    return norms, math.frexp(largest)[1]
