"""Sparse coders: exact Orthogonal Matching Pursuit (Batch-OMP) and matching pursuit, for a batch of signals.

:func:`code` runs the coder named by ``solver`` (one of :data:`SOLVERS`: "omp" or "mp"); everything that
lets a user pick the coder goes through it.

Shapes: ``signals`` (N, M), ``dictionary`` (K, M) with one atom per row. Both coders select atoms on the
**unit-normalised** atoms, so a dictionary whose rows drifted off the sphere (a gradient step between two
projections) is coded as if it were normalised; the returned values are rescaled so that
``code.reconstruct(dictionary)`` with the dictionary as given reproduces the fit. Zero-norm atoms are an
error. float32 and float64, CPU and CUDA; CPU runs a compiled per-signal kernel (numba) when available, any
other device runs the vectorised torch implementation; both give the same codes (tested against
scikit-learn's ``orthogonal_mp_gram``).

Output: a :class:`SparseCode` with fixed width S = ``sparsity``; slots are filled in selection order and the
slots past a signal's support hold index -1 and value 0.

Scale: both coders are scale-equivariant, code(s·x) = s·code(x), and compute it so. A signal (or atom) whose
magnitude lies outside :func:`laserlab.scaling.safe_range` (2^±32 in float32), where its squared norm could
overflow or underflow, is coded after an exact power-of-two rescaling and its code rescaled back; everything
inside that range runs unscaled. A code that cannot be represented in the dtype (a coefficient beyond
float32's 3.4e38) is a ``ValueError``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from ..checks import check_choice, check_finite, check_float_tensor, check_number, check_positive_int
from ..scaling import exponents, in_safe_range, ldexp, outside_safe_range, peak, safe_range
from ._backend import check_backend, kernels, use_numba

# Round-off level, in machine epsilons, of a correlation (relative to ‖x‖) or a squared Cholesky pivot: a
# step's quantities carry a few eps of error per atom, and 64 eps is still far below anything meaningful
# (float32: 7.6e-6).
_ROUNDOFF_EPS = 64

# Correlation block per kernel call (bytes): small enough to stay in cache between the matmul that writes
# it and the kernel that reads it, large enough that the matmul runs at BLAS speed.
_CPU_BLOCK_BYTES = 2 << 20
# Working set of the vectorised path per block (bytes); the S×K orthogonalised-atom correlations dominate.
_TORCH_BLOCK_BYTES = {"cpu": 16 << 20, "cuda": 1 << 30}


@dataclass
class SparseCode:
    """Sparse codes of N signals, at most S atoms each: the library's one sparse-code type.

    ``indices`` (N, S) long: chosen atoms in selection order, -1 in empty slots (empty slots trail).
    ``values`` (N, S): coefficients of those atoms (0 in empty slots).
    ``residual_norm`` (N,) or None: Euclidean norm ‖x − D γ‖ of the fit (not squared), same dtype as
    ``values``; the coders always fill it, it is None where the signals are unknown (e.g. a code whose
    coefficients were quantised, :class:`~laserlab.sparse.rate.QuantizedCode`).
    """

    indices: torch.Tensor
    values: torch.Tensor
    residual_norm: torch.Tensor | None = None

    @property
    def sparsity(self) -> int:
        """S, the number of slots per signal."""
        return self.indices.shape[1]

    @property
    def n_active(self) -> torch.Tensor:
        """Atoms used per signal, (N,) long."""
        return (self.indices >= 0).sum(1)

    def reconstruct(self, dictionary: torch.Tensor) -> torch.Tensor:
        """D_I γ for every signal, (N, M), by gathering atoms (so gradients reach ``dictionary``).

        ``dictionary`` (K, M) must be finite and hold every atom the code uses (K > max index)."""
        check_float_tensor(dictionary, "dictionary")
        if dictionary.dim() != 2 or 0 in dictionary.shape:
            raise ValueError(
                f"dictionary must have shape (K, M) with K, M >= 1; got {tuple(dictionary.shape)}"
            )
        check_code(self, "code", num_atoms=dictionary.shape[0])
        check_finite(dictionary.detach(), "dictionary")
        return combine_atoms(self.indices, self.values.to(dictionary.dtype), dictionary)

    def to_dense(self, num_atoms: int) -> torch.Tensor:
        """The code as a dense (N, K) coefficient matrix (zeros outside the support); ``num_atoms`` K must
        exceed every index the code uses."""
        check_positive_int(num_atoms, "num_atoms")
        check_code(self, "code", num_atoms=num_atoms)
        dense = self.values.new_zeros(self.indices.shape[0], num_atoms)
        return dense.scatter_add_(1, self.indices.clamp(min=0), self.values)


def check_code(
    code,
    name: str = "code",
    *,
    num_atoms: int | None = None,
    rows: int | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """``code`` must be a well-formed :class:`SparseCode`, else a ``TypeError`` / ``ValueError`` naming it.

    ``indices`` (N, S) torch.long in [-1, num_atoms) (>= -1 without ``num_atoms``; -1 marks an empty slot);
    ``values`` (N, S) floating point, finite, 0 in empty slots; ``residual_norm`` None or (N,) floating
    point, finite and >= 0. With ``rows``: N must equal it; with ``dtype``: ``values`` must
    have it. One host sync for all the value checks.
    """
    if not isinstance(code, SparseCode):
        raise TypeError(f"{name} must be a SparseCode; got {type(code).__name__}")
    indices, values, residual = code.indices, code.values, code.residual_norm
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.long or indices.dim() != 2:
        got = (
            f"{indices.dtype} {tuple(indices.shape)}" if isinstance(indices, torch.Tensor) else type(indices)
        )
        raise TypeError(f"{name}.indices must be a torch.long tensor (N, S); got {got}")
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        got = values.dtype if isinstance(values, torch.Tensor) else type(values).__name__
        raise TypeError(f"{name}.values must be a floating-point tensor (N, S); got {got}")
    if values.shape != indices.shape or values.device != indices.device:
        raise ValueError(
            f"{name}.values must have the shape and device of {name}.indices {tuple(indices.shape)}; got "
            f"{tuple(values.shape)} on {values.device}"
        )
    if dtype is not None and values.dtype != dtype:
        raise TypeError(f"{name}.values must be {dtype}; got {values.dtype}")
    if rows is not None and indices.shape[0] != rows:
        raise ValueError(f"{name} must have one row per signal, N = {rows}; got {indices.shape[0]} rows")
    if residual is not None:
        if not isinstance(residual, torch.Tensor) or not residual.is_floating_point():
            got = residual.dtype if isinstance(residual, torch.Tensor) else type(residual).__name__
            raise TypeError(f"{name}.residual_norm must be None or a floating-point tensor (N,); got {got}")
        if residual.shape != (indices.shape[0],):
            raise ValueError(
                f"{name}.residual_norm must have shape (N,) = ({indices.shape[0]},); "
                f"got {tuple(residual.shape)}"
            )
    if indices.numel() == 0:
        return
    with torch.no_grad():
        empty = indices < 0
        summary = [
            indices.min().double(),
            indices.max().double(),
            values.sum().double(),
            torch.where(empty, values, torch.zeros_like(values)).abs().sum().double(),
        ]
        if residual is not None and residual.numel():
            summary += [residual.sum().double(), residual.min().double()]
        low, high, total, stray, *residual_summary = torch.stack(summary).tolist()
    if low < -1 or (num_atoms is not None and high >= num_atoms):
        expected = (
            f"[-1, K) with K = {num_atoms} atoms" if num_atoms is not None else ">= -1 (-1: empty slot)"
        )
        raise ValueError(f"{name}.indices must lie in {expected}; got min {low:.0f}, max {high:.0f}")
    if not math.isfinite(total):
        check_finite(values, f"{name}.values")
    if stray != 0:
        raise ValueError(f"{name}.values must be 0 in empty slots (index -1)")
    if residual_summary:
        residual_total, residual_min = residual_summary
        if not math.isfinite(residual_total):
            check_finite(residual, f"{name}.residual_norm")
        if residual_min < 0:
            raise ValueError(f"{name}.residual_norm must be >= 0 (a norm); got min {residual_min:.6g}")


def check_atoms(dictionary: torch.Tensor, name: str = "dictionary") -> tuple[torch.Tensor, float, float]:
    """The rows (atoms) of ``dictionary`` (K, M) must be finite and non-zero, else a ``ValueError`` naming
    ``name``; returns :func:`laserlab.scaling.peak` of the rows: ``(peaks (K,), smallest, largest)``."""
    peaks, smallest, largest = peak(dictionary, name, rows=True)
    zero = (peaks == 0).nonzero().flatten()
    if zero.numel():
        raise ValueError(
            f"{name} has zero-norm atoms (rows {zero[:8].tolist()}); every atom needs a non-zero norm"
        )
    return peaks, smallest, largest


def combine_atoms(indices: torch.Tensor, values: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """Σ_s values[:, s] · atoms[indices[:, s]] → (N, M); slots with index -1 must hold value 0."""
    indices = indices.clamp(min=0)
    if indices.shape[1] == 0:
        return values.new_zeros(indices.shape[0], atoms.shape[1])
    # One row gather and multiply-add per slot: 3-4x faster on CPU than an (N, S, M) gather + einsum.
    out = values[:, :1] * atoms.index_select(0, indices[:, 0])
    for s in range(1, indices.shape[1]):
        out = out.addcmul(values[:, s : s + 1], atoms.index_select(0, indices[:, s]))
    return out


@torch.no_grad()
def omp(
    signals: torch.Tensor,
    dictionary: torch.Tensor,
    *,
    sparsity: int,
    tol: float | None = None,
    gram: torch.Tensor | None = None,
    backend: str = "auto",
) -> SparseCode:
    """Exact Orthogonal Matching Pursuit of every row of ``signals`` over the rows of ``dictionary``.

    Batch-OMP with a precomputed Gram matrix and a progressive Cholesky factor (Rubinstein, Zibulevsky &
    Elad 2008): at each step pick the atom with the largest |correlation with the residual|, then re-fit
    the least-squares coefficients of the whole support. Identical supports to scikit-learn's
    ``orthogonal_mp_gram`` and coefficients within round-off.

    A signal stops early, leaving empty slots, when
      - its squared residual ‖x − D γ‖² falls to ``tol`` or below (checked before the first atom too, so a
        signal with ‖x‖² ≤ tol gets no atom; scikit-learn always takes one);
      - every correlation is at round-off level, max |⟨r, d⟩| ≤ 64·eps·‖x‖ (e.g. after M atoms when S > M);
      - the best atom is (numerically) in the span of the chosen ones, Cholesky pivot² ≤ 64·eps: the rank
        guard, so coefficients never explode.
    (eps is the dtype's machine epsilon; scikit-learn uses the absolute tests |⟨r, d⟩|² < eps and
    pivot² ≤ eps, which in float64 make the same decisions on any data that is not exactly representable.)

    Args:
        signals: (N, M) float32 or float64.
        dictionary: (K, M), same dtype and device; rows are atoms, normalised internally (see module doc).
        sparsity: S, maximum number of atoms per signal, 1 ≤ S ≤ K.
        tol: optional target for the squared residual norm, same units as ‖x‖².
        gram: optional precomputed ``dictionary @ dictionary.T`` (K, K) to reuse across calls.
        backend: "auto" (numba kernel on CPU when numba imports, torch otherwise), "numba" or "torch".

    Returns:
        :class:`SparseCode` of width S.
    """
    atoms, norms, atom_exponents = _check_coding_inputs(signals, dictionary, sparsity, backend)
    if tol is not None:
        check_number(tol, "tol", minimum=0)
    gram = _normalised_gram(gram, atoms, norms, atom_exponents)
    return _code("omp", signals, atoms, norms, atom_exponents, gram, sparsity, tol, backend)


@torch.no_grad()
def matching_pursuit(
    signals: torch.Tensor, dictionary: torch.Tensor, *, sparsity: int, backend: str = "auto"
) -> SparseCode:
    """Matching pursuit: the greedy projection coder, **not** OMP.

    For s = 1..S pick the atom not yet chosen with the largest |⟨r, d⟩|, set its coefficient to ⟨r, d⟩ and
    subtract it from the residual; earlier coefficients are never re-fitted, so the residual is not
    orthogonal to the chosen atoms (on exactly sparse data its energy is an order of magnitude above OMP's).
    Every signal gets exactly S distinct atoms, even when its residual is already zero. Arguments and output
    as in :func:`omp`.
    """
    atoms, norms, atom_exponents = _check_coding_inputs(signals, dictionary, sparsity, backend)
    gram = atoms @ atoms.T
    return _code("mp", signals, atoms, norms, atom_exponents, gram, sparsity, None, backend)


#: the sparse coders :func:`code` runs: "omp" (:func:`omp`) and "mp" (:func:`matching_pursuit`)
SOLVERS = ("omp", "mp")


def code(
    signals: torch.Tensor,
    dictionary: torch.Tensor,
    *,
    sparsity: int,
    solver: str = "omp",
    tol: float | None = None,
    backend: str = "auto",
) -> SparseCode:
    """The S-sparse code of every row of ``signals`` (N, M) over ``dictionary`` (K, M) by ``solver``.

    The one entry point for choosing a coder by name: ``solver="omp"`` runs :func:`omp` (exact, may stop
    early at ``tol``), ``"mp"`` runs :func:`matching_pursuit` (no re-fit, exactly S atoms; ``tol`` must
    stay None). Arguments and output as in :func:`omp`.
    """
    check_choice(solver, "solver", SOLVERS)
    if solver == "omp":
        return omp(signals, dictionary, sparsity=sparsity, tol=tol, backend=backend)
    if tol is not None:
        raise ValueError(
            f"tol applies to solver 'omp' only (matching pursuit always takes S atoms); got {tol!r}"
        )
    return matching_pursuit(signals, dictionary, sparsity=sparsity, backend=backend)


def _check_coding_inputs(
    signals: torch.Tensor, dictionary: torch.Tensor, sparsity: int, backend: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate the shared arguments; return the unit-normalised atoms (K, M), the atom norms (K,) and
    the atoms' power-of-two exponents (K,) — None unless some atom's magnitude is outside the safe range,
    in which case the norms are those of the atoms divided by 2^exponent."""
    check_float_tensor(signals, "signals")
    check_float_tensor(dictionary, "dictionary")
    if signals.dim() != 2:
        raise ValueError(f"signals must have shape (N, M); got {tuple(signals.shape)}")
    if dictionary.dim() != 2:
        raise ValueError(
            f"dictionary must have shape (K, M), one atom per row; got {tuple(dictionary.shape)}"
        )
    if signals.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"signals must be float32 or float64; got {signals.dtype}")
    if dictionary.dtype != signals.dtype:
        raise TypeError(
            f"dictionary must have the dtype of signals ({signals.dtype}); got {dictionary.dtype}"
        )
    if dictionary.device != signals.device:
        raise ValueError(
            f"dictionary must be on the device of signals ({signals.device}); got {dictionary.device}"
        )
    num_atoms, dim = dictionary.shape
    if signals.shape[1] != dim:
        raise ValueError(
            f"dictionary must have shape (K, M) with M = signals.shape[1] = {signals.shape[1]}; "
            f"got {tuple(dictionary.shape)}"
        )
    if num_atoms == 0 or dim == 0:
        raise ValueError(
            f"dictionary must have at least one atom of dimension >= 1; got {tuple(dictionary.shape)}"
        )
    check_positive_int(sparsity, "sparsity")
    if sparsity > num_atoms:
        raise ValueError(f"sparsity must be at most the number of atoms K = {num_atoms}; got {sparsity}")
    check_backend(backend, signals)
    check_finite(signals, "signals")  # each signal's magnitude is measured where it is coded
    dictionary = dictionary.detach()
    peaks, smallest, largest = check_atoms(dictionary)
    atom_exponents = None
    if not in_safe_range(smallest, largest, dictionary.dtype):
        atom_exponents = exponents(peaks)
        dictionary = ldexp(dictionary, -atom_exponents[:, None])
    norms = torch.linalg.vector_norm(dictionary, dim=1)
    return (dictionary / norms[:, None]).contiguous(), norms, atom_exponents


def _normalised_gram(
    gram: torch.Tensor | None, atoms: torch.Tensor, norms: torch.Tensor, atom_exponents: torch.Tensor | None
) -> torch.Tensor:
    if gram is None:
        return atoms @ atoms.T
    check_float_tensor(gram, "gram")
    num_atoms = atoms.shape[0]
    if gram.shape != (num_atoms, num_atoms):
        raise ValueError(
            f"gram must be dictionary @ dictionary.T of shape (K, K) = ({num_atoms}, {num_atoms}); "
            f"got {tuple(gram.shape)}"
        )
    if gram.dtype != atoms.dtype or gram.device != atoms.device:
        raise TypeError(f"gram must have the dtype and device of signals ({atoms.dtype}, {atoms.device})")
    check_finite(gram, "gram")
    normalised = gram.detach() / norms[:, None] / norms[None, :]
    if atom_exponents is not None:
        normalised = ldexp(normalised, -(atom_exponents[:, None] + atom_exponents[None, :]))
    _check_gram(normalised, atoms)
    return normalised.contiguous()


def _check_gram(gram: torch.Tensor, atoms: torch.Tensor) -> None:
    """``gram`` (normalised) must be atoms @ atoms.T: compared along one random ±1 probe v (Freivalds'
    test, K² + 2KM operations instead of the K²M of recomputing it), within a round-off bound."""
    num_atoms, dim = atoms.shape
    signs = torch.randint(0, 2, (num_atoms,), generator=torch.Generator().manual_seed(0))
    probe = (2 * signs - 1).to(dtype=atoms.dtype, device=atoms.device)
    error = float((gram @ probe - atoms @ (atoms.T @ probe)).abs().max())
    bound = math.sqrt(torch.finfo(atoms.dtype).eps * num_atoms * dim)
    if not error <= bound:
        raise ValueError(
            "gram must be dictionary @ dictionary.T; it is not the Gram matrix of this dictionary "
            f"(along a random ±1 vector v, max |gram·v − D·Dᵀ·v| / (‖d_i‖‖d_j‖) = {error:.3g} > round-off "
            f"bound {bound:.3g})"
        )


def _code(
    kind: str,
    signals: torch.Tensor,
    atoms: torch.Tensor,
    norms: torch.Tensor,
    atom_exponents: torch.Tensor | None,
    gram: torch.Tensor,
    sparsity: int,
    tol: float | None,
    backend: str,
) -> SparseCode:
    """Code ``signals`` with the backend's coder; signals out of the safe range are coded again after an
    exact power-of-two rescaling (code(s·x) = s·code(x)), and atom rescaling is undone on the values."""
    signals = signals.detach().contiguous()
    run = _run_numba if use_numba(signals, backend) else _run_torch
    # per-signal targets, so that a rescaled signal gets its rescaled target
    targets = None if tol is None else signals.new_full((signals.shape[0],), tol)
    code, outside = run(kind, signals, atoms, norms, gram, sparsity, targets)
    rescaled = atom_exponents is not None
    if bool(outside.any()):
        rescaled = True
        rows = outside.nonzero().flatten()
        shift = exponents(outside[rows])
        scaled = ldexp(signals[rows], -shift[:, None]).contiguous()
        part_targets = None if targets is None else ldexp(targets[rows], -2 * shift)
        part, _ = run(kind, scaled, atoms, norms, gram, sparsity, part_targets)
        code.indices[rows] = part.indices
        code.values[rows] = ldexp(part.values, shift[:, None])
        code.residual_norm[rows] = ldexp(part.residual_norm, shift)
    if atom_exponents is not None:
        used = code.indices.clamp(min=0)
        code.values = ldexp(code.values, -atom_exponents[used]) * (code.indices >= 0)
    if rescaled and not bool(torch.isfinite(code.values).all() & torch.isfinite(code.residual_norm).all()):
        raise ValueError(
            f"the code of these signals cannot be represented in {signals.dtype}: a coefficient or a "
            f"residual norm exceeds the dtype's range (largest |signal| {float(signals.abs().max()):.3g}); "
            "rescale the signals or the dictionary, or use float64"
        )
    return code


def _rescale(code: SparseCode, norms: torch.Tensor) -> SparseCode:
    """Turn coefficients of the normalised atoms into coefficients of the atoms as given."""
    code.values /= norms[code.indices.clamp(min=0)]
    return code


def _empty_code(signals: torch.Tensor, sparsity: int, n: int) -> SparseCode:
    long = dict(dtype=torch.long, device=signals.device)
    return SparseCode(
        indices=torch.full((n, sparsity), -1, **long),
        values=signals.new_zeros(n, sparsity),
        residual_norm=signals.new_zeros(n),
    )


# --------------------------------------------------------------------------------------------------- numba


def _run_numba(
    kind: str,
    signals: torch.Tensor,
    atoms: torch.Tensor,
    norms: torch.Tensor,
    gram: torch.Tensor,
    sparsity: int,
    targets: torch.Tensor | None,
) -> tuple[SparseCode, torch.Tensor]:
    """Correlations by blocked BLAS matmuls, then the per-signal kernel on torch's thread count.

    ``targets`` (N,): each signal's squared-residual target, None for none. Returns the code and, per
    signal, its max |x| where that is outside the safe range (such signals are left uncoded), else 0."""
    compiled = kernels()
    n_signals, _ = signals.shape
    num_atoms = atoms.shape[0]
    code = _empty_code(signals, sparsity, n_signals)
    outside = signals.new_zeros(n_signals)
    if n_signals == 0:
        return code, outside
    n_threads = max(1, torch.get_num_threads())
    per_thread = max(64, _CPU_BLOCK_BYTES // (num_atoms * signals.element_size()))
    block = per_thread * n_threads
    corr = signals.new_empty(min(block, n_signals), num_atoms)
    atoms_t = atoms.T
    np_atoms, np_norms, np_gram = atoms.numpy(), norms.numpy(), gram.numpy()
    scalar = signals.numpy().dtype.type
    tiny = scalar(_ROUNDOFF_EPS * torch.finfo(signals.dtype).eps)
    low, high = (scalar(bound) for bound in safe_range(signals.dtype))
    np_targets = (signals.new_full((n_signals,), -math.inf) if targets is None else targets).numpy()
    outputs = (code.indices.numpy(), code.values.numpy(), code.residual_norm.numpy(), outside.numpy())

    def run(start: int, stop: int, np_corr) -> None:
        indices, values, residual_norm, row_outside = (o[start:stop] for o in outputs)
        x = signals[start:stop].numpy()
        if kind == "omp":
            compiled.omp_kernel(
                x, np_atoms, np_norms, np_corr, np_gram, sparsity, np_targets[start:stop], tiny, low, high,
                indices, values, residual_norm, row_outside,
            )  # fmt: skip
        else:
            compiled.matching_pursuit_kernel(
                x, np_atoms, np_norms, np_corr, np_gram, sparsity, low, high, indices, values, residual_norm,
                row_outside,
            )  # fmt: skip

    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    try:
        for start in range(0, n_signals, block):
            stop = min(start + block, n_signals)
            block_corr = corr[: stop - start]
            torch.matmul(signals[start:stop], atoms_t, out=block_corr)
            np_corr = block_corr.numpy()
            if pool is None:
                run(start, stop, np_corr)
                continue
            step = -(-(stop - start) // n_threads)
            jobs = [
                pool.submit(run, s, min(s + step, stop), np_corr[s - start : min(s + step, stop) - start])
                for s in range(start, stop, step)
            ]
            for job in jobs:
                job.result()
    finally:
        if pool is not None:
            pool.shutdown()
    return code, outside


# --------------------------------------------------------------------------------------------------- torch


def _blocks(signals: torch.Tensor, bytes_per_signal: int):
    budget = _TORCH_BLOCK_BYTES.get(signals.device.type, _TORCH_BLOCK_BYTES["cuda"])
    block = max(1, budget // bytes_per_signal)
    for start in range(0, signals.shape[0], block):
        yield start, min(start + block, signals.shape[0])


def _run_torch(
    kind: str,
    signals: torch.Tensor,
    atoms: torch.Tensor,
    norms: torch.Tensor,
    gram: torch.Tensor,
    sparsity: int,
    targets: torch.Tensor | None,
) -> tuple[SparseCode, torch.Tensor]:
    """The vectorised coders (any device), with the out-of-range magnitudes of :func:`_run_numba`."""
    peaks = signals.abs().amax(dim=1) if signals.shape[0] else signals.new_zeros(0)
    outside = torch.where(outside_safe_range(peaks, signals.dtype), peaks, torch.zeros_like(peaks))
    if kind == "omp":
        code = _omp_torch(signals, atoms, gram, sparsity, targets)
    else:
        code = _matching_pursuit_torch(signals, atoms, gram, sparsity)
    return _rescale(code, norms), outside


def _omp_torch(
    signals: torch.Tensor,
    atoms: torch.Tensor,
    gram: torch.Tensor,
    sparsity: int,
    targets: torch.Tensor | None,
) -> SparseCode:
    """The vectorised Batch-OMP: the kernel's recurrence, over a block of signals at once, without host syncs.

    Finished signals stay in the block with a zero update (their slots get index -1); only in tolerance mode
    (``targets`` (N,), each signal's squared-residual target, not None) does the loop check, once per step,
    whether the whole block has finished.
    """
    n_signals, _ = signals.shape
    num_atoms = atoms.shape[0]
    code = _empty_code(signals, sparsity, n_signals)
    tiny = _ROUNDOFF_EPS * torch.finfo(signals.dtype).eps
    diag = gram.diagonal()
    for start, stop in _blocks(signals, (sparsity + 2) * num_atoms * signals.element_size()):
        x = signals[start:stop]
        n = stop - start
        alpha = x @ atoms.T
        energy = (x * x).sum(1)
        floor = tiny * tiny * energy
        basis = x.new_zeros(n, sparsity, num_atoms)
        chol = torch.eye(sparsity, dtype=x.dtype, device=x.device).repeat(n, 1, 1)
        proj = x.new_zeros(n, sparsity)
        indices = code.indices[start:stop]
        tol = -math.inf if targets is None else targets[start:stop]
        active = torch.ones(n, dtype=torch.bool, device=x.device) if targets is None else energy > tol
        for s in range(sparsity):
            best, k = alpha.abs().max(dim=1)
            w = basis[:, :s].gather(2, k.view(n, 1, 1).expand(n, s, 1)).squeeze(2)  # (n, s)
            pivot2 = diag[k] - (w * w).sum(1)
            reselected = (indices[:, :s] == k[:, None]).any(1)
            ok = active & (best * best > floor) & ~reselected & (pivot2 > tiny * diag[k])
            pivot = torch.where(ok, pivot2, torch.ones_like(pivot2)).sqrt()
            u = gram[k] - torch.bmm(w.unsqueeze(1), basis[:, :s]).squeeze(1)
            u /= pivot[:, None]
            z = torch.where(ok, alpha.gather(1, k[:, None]).squeeze(1) / pivot, torch.zeros_like(pivot))
            basis[:, s] = u
            chol[:, s, :s] = w * ok[:, None]
            chol[:, s, s] = pivot
            proj[:, s] = z
            indices[:, s] = torch.where(ok, k, torch.full_like(k, -1))
            alpha -= z[:, None] * u
            energy -= z * z
            active = ok & (energy > tol)
            if targets is not None and not bool(active.any()):
                break
        # Unused slots hold identity rows of L and z = 0, so their coefficients come out 0.
        coef = torch.linalg.solve_triangular(chol.transpose(1, 2), proj.unsqueeze(2), upper=True).squeeze(2)
        _finish_torch(code, start, stop, x, atoms, coef)
    return code


def _matching_pursuit_torch(
    signals: torch.Tensor, atoms: torch.Tensor, gram: torch.Tensor, sparsity: int
) -> SparseCode:
    n_signals, _ = signals.shape
    num_atoms = atoms.shape[0]
    code = _empty_code(signals, sparsity, n_signals)
    for start, stop in _blocks(signals, 3 * num_atoms * signals.element_size()):
        x = signals[start:stop]
        alpha = x @ atoms.T
        taken = torch.zeros_like(alpha, dtype=torch.bool)
        coef = x.new_empty(stop - start, sparsity)
        for s in range(sparsity):
            k = alpha.abs().masked_fill_(taken, -1).argmax(dim=1, keepdim=True)
            c = alpha.gather(1, k)
            taken.scatter_(1, k, True)
            code.indices[start:stop, s] = k.squeeze(1)
            coef[:, s] = c.squeeze(1)
            alpha -= c * gram[k.squeeze(1)]
        _finish_torch(code, start, stop, x, atoms, coef)
    return code


def _finish_torch(
    code: SparseCode, start: int, stop: int, x: torch.Tensor, atoms: torch.Tensor, coef: torch.Tensor
) -> None:
    indices = code.indices[start:stop]
    valid = indices >= 0
    coef = coef * valid
    code.values[start:stop] = coef
    fit = combine_atoms(indices, coef, atoms)
    code.residual_norm[start:stop] = torch.linalg.vector_norm(x - fit, dim=1)
