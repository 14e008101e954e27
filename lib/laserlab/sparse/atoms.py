"""Atom hygiene shared by every dictionary update: dead-atom replacement and coherence pruning (initial
atoms come from :func:`laserlab.sparse.kmeans` with ``start="kmeans++"`` and ``normalize=True``).

- :func:`replace_unused_atoms`: unused atoms become the (normalised) worst-represented signals, the choice
  of Aharon et al. and Rubinstein's ksvdbox; a random direction is nearly useless in a learned latent space.
- :func:`coherent_atoms`: atoms nearly parallel to a more-used atom (mutual coherence above a threshold),
  to be replaced the same way.

All are fixed-shape tensor code without host synchronisation.
"""

from __future__ import annotations

import torch

from ..checks import check_finite, check_float_tensor, check_number
from ..scaling import unit_rows


@torch.no_grad()
def replace_unused_atoms(
    dictionary: torch.Tensor, signals: torch.Tensor, residual_norm: torch.Tensor, unused: torch.Tensor
) -> torch.Tensor:
    """A copy of ``dictionary`` (K, M) whose ``unused`` atoms are the worst-represented signals, normalised.

    The i-th unused atom (in index order) becomes the signal with the i-th largest ``residual_norm`` (N,)
    among those with a non-zero norm; with fewer such signals than unused atoms, the remaining unused atoms
    are kept. ``unused`` is a (K,) bool mask (e.g. ``~update.used``). Signals of any finite magnitude are
    normalised exactly (:func:`laserlab.scaling.unit_rows`).
    """
    check_float_tensor(dictionary, "dictionary")
    check_float_tensor(signals, "signals")
    num_atoms = dictionary.shape[0]
    if signals.dim() != 2 or dictionary.dim() != 2 or signals.shape[1] != dictionary.shape[1]:
        raise ValueError(
            f"signals (N, M) and dictionary (K, M) must share M; got {tuple(signals.shape)} and "
            f"{tuple(dictionary.shape)}"
        )
    check_float_tensor(residual_norm, "residual_norm")
    if residual_norm.shape != (signals.shape[0],):
        raise ValueError(
            f"residual_norm must have shape (N,) = ({signals.shape[0]},); got {tuple(residual_norm.shape)}"
        )
    if not isinstance(unused, torch.Tensor) or unused.dtype != torch.bool:
        got = unused.dtype if isinstance(unused, torch.Tensor) else type(unused).__name__
        raise TypeError(f"unused must be a bool tensor (K,); got {got}")
    if unused.shape != (num_atoms,):
        raise ValueError(
            f"unused must be a bool mask of shape (K,) = ({num_atoms},); got {tuple(unused.shape)}"
        )
    check_finite(dictionary, "dictionary")
    if signals.shape[0] == 0:
        return dictionary.clone()
    check_finite(signals, "signals")
    check_finite(residual_norm, "residual_norm")
    nonzero = signals.abs().amax(dim=1) > 0
    # Signals with zero norm cannot become an atom: rank them last, and never take them.
    score = torch.where(
        nonzero, residual_norm.to(signals.dtype), torch.full_like(residual_norm, -1, dtype=signals.dtype)
    )
    candidates = torch.argsort(score, descending=True, stable=True)[:num_atoms]
    rank = torch.cumsum(unused.long(), 0) - 1  # the i-th unused atom takes the i-th candidate
    pick = candidates[rank.clamp(0, candidates.shape[0] - 1)]
    take = unused & (rank < candidates.shape[0]) & nonzero[pick]
    fresh = unit_rows(signals[pick])
    return torch.where(take[:, None], fresh.to(dictionary.dtype), dictionary)


@torch.no_grad()
def coherent_atoms(dictionary: torch.Tensor, usage: torch.Tensor, *, max_coherence: float) -> torch.Tensor:
    """(K,) bool: atoms whose |cosine| with some more-used atom exceeds ``max_coherence``.

    Of each too-coherent pair the less-used atom is flagged (the higher index on a tie), so one atom of every
    near-duplicate group survives. ``usage`` (K,) is any usage measure (counts, frequencies).
    """
    check_number(max_coherence, "max_coherence", minimum=0, maximum=1, exclusive=True)
    check_float_tensor(dictionary, "dictionary")
    if dictionary.dim() != 2:
        raise ValueError(f"dictionary must have shape (K, M); got {tuple(dictionary.shape)}")
    num_atoms = dictionary.shape[0]
    if not isinstance(usage, torch.Tensor) or usage.dtype == torch.bool or usage.is_complex():
        got = usage.dtype if isinstance(usage, torch.Tensor) else type(usage).__name__
        raise TypeError(f"usage must be a real tensor (K,) of counts or frequencies; got {got}")
    if usage.shape != (num_atoms,):
        raise ValueError(f"usage must have shape (K,) = ({num_atoms},); got {tuple(usage.shape)}")
    if num_atoms == 0:
        return torch.zeros(0, dtype=torch.bool, device=dictionary.device)
    check_finite(dictionary, "dictionary")
    check_finite(usage, "usage")
    unit = unit_rows(dictionary)
    coherent = (unit @ unit.T).abs() > max_coherence
    index = torch.arange(num_atoms, device=dictionary.device)
    beats = (usage[None, :] > usage[:, None]) | (
        (usage[None, :] == usage[:, None]) & (index[None, :] < index[:, None])
    )
    return (coherent & beats & (index[None, :] != index[:, None])).any(1)
