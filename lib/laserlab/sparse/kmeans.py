"""k-means of the rows of a matrix, and the nearest-codeword search it shares with vector quantisation.

- :func:`nearest_codeword`: index of the nearest row of a codebook, one ``addmm`` per block of rows.
- :func:`kmeans`: Lloyd's algorithm from a random-row or a k-means++ start, optionally spherical or with
  unit-norm results; returns a :class:`KMeansResult`. It initialises VQ codebooks (random rows, spherical
  with cosine similarity), dictionaries (k-means++, then normalised) and the pixel experiment's codebooks.

Rows are signals (N, M), centroids rows (K, M); float32 or float64, on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..checks import check_bool, check_choice, check_float_tensor, check_nonnegative_int, check_positive_int
from ..scaling import common_exponent, ldexp, peak

#: how :func:`kmeans` picks its starting centroids
KMEANS_STARTS = ("kmeans++", "random")

# Rows per addmm block are chosen so the block's (rows, K) score matrix holds about this many elements
# (1 MiB in float32): one huge score matrix spills the cache (1.7x slower at N = 16384, K = 512).
_SCORE_BLOCK_ELEMENTS = 1 << 18


@dataclass
class KMeansResult:
    """What :func:`kmeans` returns.

    ``centroids`` (K, M): the final centroids (unit-norm rows with ``spherical`` or ``normalize``);
    ``counts`` (K,): rows assigned to each centroid by a last assignment step after the final update (to
    the centroids before the ``normalize`` rescaling), in the dtype of the signals.
    """

    centroids: torch.Tensor
    counts: torch.Tensor


def nearest_codeword(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword (Euclidean) of each row of ``vectors``.

    ``vectors`` (N, D) and ``codebook`` (K, D), same dtype and device → indices (N,) long. Computes
    argmin_k ‖e_k‖² − 2⟨x, e_k⟩ (‖x‖² is common to a row) with one ``addmm`` per block of rows, no N×K×D
    temporaries and no square roots; ties go to the lowest index. Not differentiable (indices only).
    Vectors and codewords whose magnitudes lie outside :func:`laserlab.scaling.safe_range` (where ‖e‖² or
    ⟨x, e⟩ could overflow or underflow) are compared after one exact power-of-two rescaling of both, which
    changes no distance ranking.
    """
    check_float_tensor(vectors, "vectors")
    check_float_tensor(codebook, "codebook")
    if codebook.dim() != 2 or 0 in codebook.shape:
        raise ValueError(f"codebook must have shape (K, D) with K, D >= 1; got {tuple(codebook.shape)}")
    if vectors.dim() != 2 or vectors.shape[1] != codebook.shape[1]:
        raise ValueError(
            f"vectors must have shape (N, D) with D = codebook.shape[1] = {codebook.shape[1]}; "
            f"got {tuple(vectors.shape)}"
        )
    if vectors.dtype != codebook.dtype or vectors.device != codebook.device:
        raise TypeError(
            f"codebook must have the dtype and device of vectors ({vectors.dtype}, {vectors.device}); got "
            f"{codebook.dtype}, {codebook.device}"
        )
    if vectors.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=vectors.device)
    # one shift for both: a common power of two changes no distance ranking
    _, vectors_smallest, vectors_largest = peak(vectors, "vectors")
    _, codebook_smallest, codebook_largest = peak(codebook, "codebook")
    shift = common_exponent(
        min(vectors_smallest, codebook_smallest), max(vectors_largest, codebook_largest), vectors.dtype
    )
    if shift is not None:
        vectors, codebook = ldexp(vectors, -shift), ldexp(codebook, -shift)
    squared_norms = codebook.square().sum(1).unsqueeze(0)
    rows = max(1, _SCORE_BLOCK_ELEMENTS // max(1, codebook.shape[0]))
    if vectors.shape[0] <= rows:
        return torch.addmm(squared_norms, vectors, codebook.T, alpha=-2).argmin(1)
    indices = torch.empty(vectors.shape[0], dtype=torch.long, device=vectors.device)
    for start in range(0, vectors.shape[0], rows):
        block = vectors[start : start + rows]
        indices[start : start + rows] = torch.addmm(squared_norms, block, codebook.T, alpha=-2).argmin(1)
    return indices


@torch.no_grad()
def kmeans(
    signals: torch.Tensor,
    num_clusters: int,
    *,
    iterations: int = 10,
    start: str = "kmeans++",
    spherical: bool = False,
    normalize: bool = False,
    generator: torch.Generator | None = None,
) -> KMeansResult:
    """Lloyd's k-means of the rows of ``signals`` (N, M) into ``num_clusters`` K clusters.

    Start (``start``):

    - ``"kmeans++"`` (Arthur & Vassilvitskii 2007): the first centre is a uniformly drawn row, each next one
      a row drawn with probability proportional to its squared distance to the nearest centre so far
      (uniformly when every distance is 0). Needs N ≥ K.
    - ``"random"``: K distinct rows drawn uniformly; when N < K, rows drawn with replacement and jittered by
      1e-3 of the rows' RMS norm so that no two centroids coincide.

    Then ``iterations`` Lloyd steps: assign every row to its nearest centroid (:func:`nearest_codeword`),
    move each centroid to its cluster mean; a centroid that loses all its rows stays where it is.
    ``spherical``: spherical k-means — the start and every mean are renormalised to unit length (for
    unit-norm rows, nearest in Euclidean distance is then nearest in angle). ``normalize``: the returned
    centroids are scaled to unit length after the last step (a zero centroid, possible only from zero rows,
    becomes the first unit basis vector) — a dictionary's atoms.

    Scale-equivariant: signals whose magnitude lies outside :func:`laserlab.scaling.safe_range` are
    clustered after one exact power-of-two rescaling, undone on the centroids.

    ``generator`` draws every random choice, on its own device (CPU, or the device of ``signals``); the
    result is a function of the data and the generator's state. Returns a :class:`KMeansResult`.
    """
    check_float_tensor(signals, "signals")
    if signals.dim() != 2 or 0 in signals.shape:
        raise ValueError(f"signals must have shape (N, M) with N, M >= 1; got {tuple(signals.shape)}")
    check_positive_int(num_clusters, "num_clusters")
    check_nonnegative_int(iterations, "iterations")
    check_choice(start, "start", KMEANS_STARTS)
    check_bool(spherical, "spherical")
    check_bool(normalize, "normalize")
    n_signals = signals.shape[0]
    if start == "kmeans++" and n_signals < num_clusters:
        raise ValueError(
            f"num_clusters must be at most the number of signals N = {n_signals} for a k-means++ start; "
            f"got {num_clusters}"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
    _, smallest, largest = peak(signals, "signals")
    signals = signals.detach()
    shift = common_exponent(smallest, largest, signals.dtype)
    if shift is not None:
        signals = ldexp(signals, -shift)
    if start == "kmeans++":
        centroids = _kmeans_plus_plus(signals, num_clusters, generator)
    else:
        centroids = _random_rows(signals, num_clusters, generator)
    if spherical:
        centroids = F.normalize(centroids, dim=1)
    for _ in range(iterations):
        labels = nearest_codeword(signals, centroids)
        counts = torch.bincount(labels, minlength=num_clusters).to(signals.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, labels, signals)
        means = sums / counts.clamp_min(1).unsqueeze(1)
        if spherical:
            means = F.normalize(means, dim=1)
        centroids = torch.where((counts > 0).unsqueeze(1), means, centroids)
    labels = nearest_codeword(signals, centroids)
    counts = torch.bincount(labels, minlength=num_clusters).to(signals.dtype)
    if normalize:
        norms = torch.linalg.vector_norm(centroids, dim=1, keepdim=True)
        fallback = torch.zeros_like(centroids)
        fallback[:, 0] = 1
        tiny = torch.finfo(centroids.dtype).tiny
        centroids = torch.where(norms > 0, centroids / norms.clamp(min=tiny), fallback)
    elif shift is not None and not spherical:
        centroids = ldexp(centroids, shift)
    return KMeansResult(centroids=centroids, counts=counts)


def _device_of(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def _random_rows(signals: torch.Tensor, num_clusters: int, generator: torch.Generator | None) -> torch.Tensor:
    n_signals, dim = signals.shape
    device = _device_of(generator)
    if n_signals >= num_clusters:
        rows = torch.randperm(n_signals, generator=generator, device=device)[:num_clusters]
        return signals[rows.to(signals.device)].clone()
    rows = torch.randint(n_signals, (num_clusters,), generator=generator, device=device)
    rms = signals.square().sum(1).mean().sqrt()
    jitter = torch.randn(num_clusters, dim, generator=generator, dtype=signals.dtype, device=device)
    return signals[rows.to(signals.device)] + 1e-3 * rms * jitter.to(signals.device)


def _kmeans_plus_plus(
    signals: torch.Tensor, num_clusters: int, generator: torch.Generator | None
) -> torch.Tensor:
    n_signals = signals.shape[0]
    device = _device_of(generator)
    squared = (signals * signals).sum(1)
    first = torch.randint(n_signals, (1,), generator=generator, device=device).to(signals.device)
    chosen = [first]
    nearest = _squared_distances(signals, squared, signals[first]).squeeze(1)
    for _ in range(1, num_clusters):
        # All-zero distances (fewer distinct signals than clusters) fall back to uniform sampling.
        weights = torch.where(nearest.sum() > 0, nearest, torch.ones_like(nearest)).clamp(min=0)
        pick = torch.multinomial(weights.to(device), 1, generator=generator).to(signals.device)
        chosen.append(pick)
        nearest = torch.minimum(nearest, _squared_distances(signals, squared, signals[pick]).squeeze(1))
    return signals[torch.cat(chosen)].clone()


def _squared_distances(signals: torch.Tensor, squared: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """‖x_n − c_k‖² (N, K) as ‖x‖² + ‖c‖² − 2 x·c (one matmul), clamped at 0 against round-off."""
    distances = torch.addmm((centres * centres).sum(1)[None, :], signals, centres.T, alpha=-2)
    return (distances + squared[:, None]).clamp_(min=0)
