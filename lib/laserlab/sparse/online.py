"""Online dictionary learning (Mairal, Bach, Ponce & Sapiro 2009/2010) with sparse codes from any coder.

Per minibatch with codes γ (from :func:`omp`, say) the state accumulates the sufficient statistics

    A ← β A + (1/n) Σ γ γᵀ   (K, K)        B ← β B + (1/n) Σ γ xᵀ   (K, M; Mairal's B, transposed)

with a forgetting factor β, then runs block-coordinate descent on the surrogate ½ tr(Dᵀ D A) − tr(Dᵀ B)
(here with D as (K, M) rows): for each atom j with A_jj > 0, u_j = d_j + (b_j − a_jᵀ D) / A_jj, and d_j is
projected onto the **unit sphere** (not Mairal's unit ball: the coders here expect unit-norm atoms).
Because A and B carry the past, the state can be saved and resumed (warm restarts).

Atom hygiene after each update: atoms whose decayed usage frequency fell below ``min_usage`` (and, with
``max_coherence``, atoms nearly parallel to a more-used one) are replaced by the batch's worst-represented
signals and their statistics are cleared.

Scale: A and B hold products γγᵀ and γxᵀ in absolute units, so they cannot be rescaled per batch. Products
that overflow the dtype, or whose largest values fall below its normal range (where they would keep only a
few significant bits), are a ``ValueError`` (in float32: coefficients beyond ~1e19 or below ~3e-16).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..checks import (
    check_bool,
    check_finite,
    check_float_tensor,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from ..scaling import peak, unit_rows
from .atoms import coherent_atoms, replace_unused_atoms
from .omp import SparseCode, check_atoms, check_code


@dataclass
class OnlineState:
    """State of online dictionary learning.

    ``dictionary`` (K, M) unit-norm rows; ``A`` (K, K) decayed code covariance; ``B`` (K, M) decayed
    code–signal correlation; ``usage`` (K,) decayed fraction of signals whose code uses each atom;
    ``steps``: minibatches seen.
    """

    dictionary: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor
    usage: torch.Tensor
    steps: int = 0


def check_forgetting(forgetting) -> None:
    """The forgetting factor β of the online statistics must be a number in (0, 1]."""
    check_number(forgetting, "forgetting", minimum=0, maximum=1)
    if forgetting == 0:
        raise ValueError(f"forgetting must be a finite number in (0, 1]; got {forgetting!r}")


def check_state(state) -> None:
    """``state`` must be an :class:`OnlineState`: a float dictionary (K, M) with unit-norm-able rows,
    ``A`` (K, K), ``B`` (K, M) and ``usage`` (K,) of its dtype and device, all finite, ``steps`` an int
    >= 0 (one host sync)."""
    if not isinstance(state, OnlineState):
        raise TypeError(f"state must be an OnlineState (from online_init); got {type(state).__name__}")
    dictionary = state.dictionary
    check_float_tensor(dictionary, "state.dictionary")
    if dictionary.dim() != 2 or 0 in dictionary.shape:
        raise ValueError(
            f"state.dictionary must have shape (K, M) with K, M >= 1; got {tuple(dictionary.shape)}"
        )
    num_atoms, dim = dictionary.shape
    for name, shape in (("A", (num_atoms, num_atoms)), ("B", (num_atoms, dim)), ("usage", (num_atoms,))):
        tensor = getattr(state, name)
        check_float_tensor(tensor, f"state.{name}")
        if tuple(tensor.shape) != shape:
            raise ValueError(f"state.{name} must have shape {shape}; got {tuple(tensor.shape)}")
        if tensor.dtype != dictionary.dtype or tensor.device != dictionary.device:
            raise TypeError(
                f"state.{name} must have the dtype and device of state.dictionary "
                f"({dictionary.dtype}, {dictionary.device}); got {tensor.dtype}, {tensor.device}"
            )
    check_nonnegative_int(state.steps, "state.steps")
    for name in ("dictionary", "A", "B", "usage"):
        check_finite(getattr(state, name), f"state.{name}")


def _check_products(signals: torch.Tensor, values: torch.Tensor) -> None:
    """The largest products γγᵀ and γxᵀ of a batch must be normal numbers with full precision."""
    _, _, signal_peak = peak(signals, "signals")
    _, _, value_peak = peak(values, "code.values")
    largest = value_peak * max(value_peak, signal_peak)
    info = torch.finfo(values.dtype)
    if 0 < largest < info.tiny / info.eps:
        raise ValueError(
            f"code.values are too small for the online statistics in {values.dtype}: the largest products "
            f"γγᵀ, γxᵀ ({largest:.3g}) lose precision below {info.tiny / info.eps:.3g}; rescale the signals, "
            "or use float64"
        )


def online_init(dictionary: torch.Tensor) -> OnlineState:
    """A fresh state around ``dictionary`` (K, M) (rows normalised), with empty statistics."""
    check_float_tensor(dictionary, "dictionary")
    if dictionary.dim() != 2 or 0 in dictionary.shape:
        raise ValueError(f"dictionary must have shape (K, M) with K, M >= 1; got {tuple(dictionary.shape)}")
    check_atoms(dictionary)
    num_atoms, dim = dictionary.shape
    dictionary = unit_rows(dictionary.detach())
    return OnlineState(
        dictionary=dictionary,
        A=dictionary.new_zeros(num_atoms, num_atoms),
        B=dictionary.new_zeros(num_atoms, dim),
        usage=dictionary.new_zeros(num_atoms),
    )


@torch.no_grad()
def online_update(
    state: OnlineState,
    signals: torch.Tensor,
    code: SparseCode,
    *,
    forgetting: float = 0.95,
    sweeps: int = 1,
    replace_unused: bool = True,
    min_usage: float = 1e-3,
    max_coherence: float | None = None,
) -> OnlineState:
    """Fold one minibatch into ``state`` and update the dictionary; returns a new state.

    Args:
        state: from :func:`online_init` or a previous update.
        signals: (N, M) minibatch, dtype and device of the dictionary.
        code: its :class:`SparseCode` over ``state.dictionary``, e.g. from :func:`omp`.
        forgetting: β in (0, 1]; the statistics remember roughly the last 1/(1 − β) minibatches.
        sweeps: block-coordinate-descent passes over all atoms.
        replace_unused: replace atoms whose decayed usage frequency is below ``min_usage`` (e.g. never used
            since they were set) by the worst-represented signals of the batch.
        min_usage: usage-frequency threshold for ``replace_unused`` (fraction of signals per batch).
        max_coherence: if set, atoms whose |cosine| with a more-used atom exceeds it are replaced too.
    """
    check_state(state)
    dictionary = state.dictionary
    num_atoms, dim = dictionary.shape
    check_float_tensor(signals, "signals")
    if signals.dim() != 2 or signals.shape[1] != dim:
        raise ValueError(f"signals must have shape (N, M) with M = {dim}; got {tuple(signals.shape)}")
    if signals.dtype != dictionary.dtype or signals.device != dictionary.device:
        raise TypeError(
            "signals must have the dtype and device of the dictionary "
            f"({dictionary.dtype}, {dictionary.device})"
        )
    check_code(code, "code", num_atoms=num_atoms, rows=signals.shape[0])
    check_forgetting(forgetting)
    check_positive_int(sweeps, "sweeps")
    check_bool(replace_unused, "replace_unused")
    check_number(min_usage, "min_usage", minimum=0, maximum=1)
    if max_coherence is not None:
        check_number(max_coherence, "max_coherence", minimum=0, maximum=1, exclusive=True)
    if (replace_unused or max_coherence is not None) and code.residual_norm is None:
        raise ValueError("code.residual_norm is needed to replace atoms by the worst-represented signals")
    if signals.shape[0]:
        _check_products(signals, code.values.to(dictionary.dtype))

    n = max(signals.shape[0], 1)
    indices = code.indices.clamp(min=0)
    values = code.values.to(dictionary.dtype)  # 0 in empty slots, so they add nothing below
    pairs = (indices[:, :, None] * num_atoms + indices[:, None, :]).reshape(-1)
    products = (values[:, :, None] * values[:, None, :]).reshape(-1)
    batch_a = (
        dictionary.new_zeros(num_atoms * num_atoms).index_add_(0, pairs, products).view(num_atoms, num_atoms)
    )
    weighted = (values[:, :, None] * signals[:, None, :]).reshape(-1, dim)
    batch_b = dictionary.new_zeros(num_atoms, dim).index_add_(0, indices.reshape(-1), weighted)
    counts = dictionary.new_zeros(num_atoms).index_add_(
        0, indices.reshape(-1), (code.indices >= 0).reshape(-1).to(dictionary.dtype)
    )

    a = forgetting * state.A + batch_a / n
    b = forgetting * state.B + batch_b / n
    if not bool(torch.isfinite(a).all() & torch.isfinite(b).all()):
        raise ValueError(
            f"the online statistics A, B overflow {dictionary.dtype}: the products of these coefficients and "
            "signals exceed the dtype's range; rescale the signals, or use float64"
        )
    frequency = counts / n
    usage = frequency if state.steps == 0 else forgetting * state.usage + (1 - forgetting) * frequency

    atoms = dictionary.clone()
    diagonal = a.diagonal()
    for _ in range(sweeps):
        for j in range(num_atoms):
            u = atoms[j] + (b[j] - a[j] @ atoms) / diagonal[j].clamp(min=torch.finfo(a.dtype).tiny)
            norm = torch.linalg.vector_norm(u)
            atoms[j] = torch.where(
                (diagonal[j] > 0) & (norm > 0), u / norm.clamp(min=torch.finfo(a.dtype).tiny), atoms[j]
            )

    dead = torch.zeros(num_atoms, dtype=torch.bool, device=atoms.device)
    if replace_unused:
        dead |= usage < min_usage
    if max_coherence is not None:
        dead |= coherent_atoms(atoms, usage, max_coherence=max_coherence)
    if replace_unused or max_coherence is not None:
        atoms = replace_unused_atoms(atoms, signals, code.residual_norm, dead)
        keep = (~dead).to(a.dtype)
        a = a * keep[:, None] * keep[None, :]
        b = b * keep[:, None]
        # A fresh atom gets the average usage, so it has a while to prove itself before it counts as dead.
        usage = torch.where(dead, usage.mean().expand_as(usage), usage)
    return replace(state, dictionary=atoms, A=a, B=b, usage=usage, steps=state.steps + 1)
