"""Atom hygiene shared by every dictionary update: initialisation, dead-atom replacement, coherence pruning.

- :func:`kmeans_init`: k-means++ seeding (Arthur & Vassilvitskii 2007), optionally followed by Lloyd steps.
- :func:`replace_unused_atoms`: unused atoms become the (normalised) worst-represented signals, the choice
  of Aharon et al. and Rubinstein's ksvdbox; a random direction is nearly useless in a learned latent space.
- :func:`coherent_atoms`: atoms nearly parallel to a more-used atom (mutual coherence above a threshold),
  to be replaced the same way.

All are fixed-shape tensor code without host synchronisation.
"""

from __future__ import annotations

import torch

from ..checks import check_finite, check_float_tensor, check_nonnegative_int, check_positive_int


@torch.no_grad()
def kmeans_init(
    signals: torch.Tensor,
    num_clusters: int,
    *,
    iterations: int = 0,
    normalize: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Initial codebook or dictionary (K, M) from ``signals`` (N, M), N ≥ K.

    k-means++ seeding: the first centre is a uniformly drawn signal, each next one a signal drawn with
    probability proportional to its squared distance to the nearest centre so far. Then ``iterations``
    Lloyd steps (assign to the nearest centre, move each centre to its cluster mean; a centre that loses all
    its signals stays where it is). ``normalize=True`` returns unit-norm rows, for a dictionary (a zero
    centre, possible only from zero signals, is replaced by the first unit basis vector). ``generator``, if
    given, must live on the device of ``signals``.
    """
    check_float_tensor(signals, "signals")
    if signals.dim() != 2:
        raise ValueError(f"signals must have shape (N, M); got {tuple(signals.shape)}")
    check_positive_int(num_clusters, "num_clusters")
    check_nonnegative_int(iterations, "iterations")
    n_signals = signals.shape[0]
    if n_signals < num_clusters:
        raise ValueError(
            f"num_clusters must be at most the number of signals N = {n_signals}; got {num_clusters}"
        )
    check_finite(signals, "signals")
    signals = signals.detach()
    squared = (signals * signals).sum(1)
    first = torch.randint(n_signals, (1,), generator=generator, device=signals.device)
    chosen = [first]
    nearest = _squared_distances(signals, squared, signals[first]).squeeze(1)
    for _ in range(1, num_clusters):
        # All-zero distances (fewer distinct signals than clusters) fall back to uniform sampling.
        weights = torch.where(nearest.sum() > 0, nearest, torch.ones_like(nearest)).clamp(min=0)
        pick = torch.multinomial(weights, 1, generator=generator)
        chosen.append(pick)
        nearest = torch.minimum(nearest, _squared_distances(signals, squared, signals[pick]).squeeze(1))
    centres = signals[torch.cat(chosen)].clone()
    for _ in range(iterations):
        assignment = _squared_distances(signals, squared, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assignment, signals)
        counts = torch.bincount(assignment, minlength=num_clusters).to(signals.dtype)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
    if normalize:
        norms = torch.linalg.vector_norm(centres, dim=1, keepdim=True)
        fallback = torch.zeros_like(centres)
        fallback[:, 0] = 1
        centres = torch.where(norms > 0, centres / norms.clamp(min=torch.finfo(centres.dtype).tiny), fallback)
    return centres


def _squared_distances(signals: torch.Tensor, squared: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """‖x_n − c_k‖² (N, K) as ‖x‖² + ‖c‖² − 2 x·c (one matmul), clamped at 0 against round-off."""
    distances = torch.addmm((centres * centres).sum(1)[None, :], signals, centres.T, alpha=-2)
    return (distances + squared[:, None]).clamp_(min=0)


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
    if not 0 < max_coherence < 1:
        raise ValueError(f"max_coherence must be in (0, 1); got {max_coherence!r}")
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
