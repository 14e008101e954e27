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

from ..checks import check_float_tensor, check_number


@torch.no_grad()
def replace_unused_atoms(
    dictionary: torch.Tensor, signals: torch.Tensor, residual_norm: torch.Tensor, unused: torch.Tensor
) -> torch.Tensor:
    """A copy of ``dictionary`` (K, M) whose ``unused`` atoms are the worst-represented signals, normalised.

    The i-th unused atom (in index order) becomes the signal with the i-th largest ``residual_norm`` (N,)
    among those with a non-zero norm; with fewer such signals than unused atoms, the remaining unused atoms
    are kept. ``unused`` is a (K,) bool mask (e.g. ``~update.used``).
    """
    check_float_tensor(dictionary, "dictionary")
    check_float_tensor(signals, "signals")
    num_atoms = dictionary.shape[0]
    if signals.dim() != 2 or dictionary.dim() != 2 or signals.shape[1] != dictionary.shape[1]:
        raise ValueError(
            f"signals (N, M) and dictionary (K, M) must share M; got {tuple(signals.shape)} and "
            f"{tuple(dictionary.shape)}"
        )
    if residual_norm.shape != (signals.shape[0],):
        raise ValueError(
            f"residual_norm must have shape (N,) = ({signals.shape[0]},); got {tuple(residual_norm.shape)}"
        )
    if unused.shape != (num_atoms,) or unused.dtype != torch.bool:
        raise ValueError(
            f"unused must be a bool mask of shape (K,) = ({num_atoms},); "
            f"got {unused.dtype} {tuple(unused.shape)}"
        )
    if signals.shape[0] == 0:
        return dictionary.clone()
    norms = torch.linalg.vector_norm(signals, dim=1)
    # Signals with zero norm cannot become an atom: rank them last, and never take them.
    score = torch.where(norms > 0, residual_norm.to(norms.dtype), torch.full_like(norms, -1))
    candidates = torch.argsort(score, descending=True, stable=True)[:num_atoms]
    rank = torch.cumsum(unused.long(), 0) - 1  # the i-th unused atom takes the i-th candidate
    pick = candidates[rank.clamp(0, candidates.shape[0] - 1)]
    take = unused & (rank < candidates.shape[0]) & (norms[pick] > 0)
    fresh = signals[pick] / norms[pick].clamp(min=torch.finfo(signals.dtype).tiny)[:, None]
    return torch.where(take[:, None], fresh.to(dictionary.dtype), dictionary)


@torch.no_grad()
def coherent_atoms(dictionary: torch.Tensor, usage: torch.Tensor, *, max_coherence: float) -> torch.Tensor:
    """(K,) bool: atoms whose |cosine| with some more-used atom exceeds ``max_coherence``.

    Of each too-coherent pair the less-used atom is flagged (the higher index on a tie), so one atom of every
    near-duplicate group survives. ``usage`` (K,) is any usage measure (counts, frequencies).
    """
    check_number(max_coherence, "max_coherence", minimum=0, maximum=1, exclusive=True)
    num_atoms = dictionary.shape[0]
    unit = dictionary / torch.linalg.vector_norm(dictionary, dim=1, keepdim=True).clamp(
        min=torch.finfo(dictionary.dtype).tiny
    )
    coherent = (unit @ unit.T).abs() > max_coherence
    index = torch.arange(num_atoms, device=dictionary.device)
    beats = (usage[None, :] > usage[:, None]) | (
        (usage[None, :] == usage[:, None]) & (index[None, :] < index[:, None])
    )
    return (coherent & beats & (index[None, :] != index[:, None])).any(1)
