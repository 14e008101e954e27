"""What a learned codebook or dictionary looks like: geometry, usage, per-token code summaries, embeddings.

Codebooks and dictionaries are rows (K, M), as everywhere in :mod:`laserlab.sparse`. These are the numbers
behind the figures of :mod:`laserlab.viz.codes` and :mod:`laserlab.viz.embeddings`:

- geometry: :func:`coherence` (|cosine| between atoms), :func:`pairwise_distances`;
- usage: :func:`usage_counts` of codeword or atom indices, and of such counts :func:`perplexity` and
  :func:`used_fraction`;
- per-token summaries of a :class:`~laserlab.sparse.omp.SparseCode`: :func:`code_strength` (L1 norm of the
  coefficients) and :func:`dominant_atom` (the atom with the largest |coefficient|);
- colour of a pixel-patch codeword: :func:`mean_colors` (channel-major token layout of
  :mod:`laserlab.bottlenecks.patches`);
- 2-D embeddings: :func:`embed` with PCA (explained variance computed from the data), t-SNE
  (scikit-learn) or UMAP (umap-learn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..checks import (
    check_choice,
    check_finite,
    check_float_tensor,
    check_int,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from .omp import SparseCode, check_code

EMBEDDING_METHODS = ("pca", "tsne", "umap")


def _check_rows(rows: torch.Tensor, name: str, *, minimum: int = 1) -> None:
    check_float_tensor(rows, name)
    if rows.dim() != 2 or rows.shape[0] < minimum:
        raise ValueError(f"{name} must have shape (K, M) with K >= {minimum}; got {tuple(rows.shape)}")
    check_finite(rows, name)


@torch.no_grad()
def coherence(dictionary: torch.Tensor) -> torch.Tensor:
    """|cos| between every pair of atoms, (K, K), ones on the diagonal; its off-diagonal maximum is the
    mutual coherence μ. Zero atoms have coherence 0 with everything (and 1 with themselves)."""
    _check_rows(dictionary, "dictionary")
    norms = torch.linalg.vector_norm(dictionary, dim=1, keepdim=True)
    unit = dictionary / norms.clamp(min=torch.finfo(dictionary.dtype).tiny)
    matrix = (unit @ unit.T).abs().clamp_(max=1)
    matrix.fill_diagonal_(1)
    return matrix


def mutual_coherence(dictionary: torch.Tensor) -> float:
    """μ = max over distinct atoms of |cos|; 0 for a single atom."""
    matrix = coherence(dictionary)
    if matrix.shape[0] < 2:
        return 0.0
    off_diagonal = ~torch.eye(matrix.shape[0], dtype=torch.bool, device=matrix.device)
    return float(matrix[off_diagonal].max())


@torch.no_grad()
def pairwise_distances(codebook: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between all distinct pairs of rows (i < j), (K(K−1)/2,), in the order of
    ``torch.triu_indices(K, K, 1)``."""
    _check_rows(codebook, "codebook", minimum=2)
    rows, cols = torch.triu_indices(codebook.shape[0], codebook.shape[0], 1, device=codebook.device)
    distances = torch.cdist(codebook[None], codebook[None], compute_mode="donot_use_mm_for_euclid_dist")
    return distances[0][rows, cols]


def usage_counts(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each code in [0, num_codes) occurs in integer ``indices`` (any shape; negative entries,
    the empty slots of a sparse code, are ignored) → (num_codes,) long."""
    check_positive_int(num_codes, "num_codes")
    if not isinstance(indices, torch.Tensor) or indices.dtype not in (torch.int32, torch.int64):
        got = indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__
        raise TypeError(f"indices must be an integer tensor (int32 or int64); got {got}")
    flat = indices.flatten()
    flat = flat[flat >= 0]
    if flat.numel() and int(flat.max()) >= num_codes:
        raise ValueError(f"indices must lie in [0, num_codes) = [0, {num_codes}); got max {int(flat.max())}")
    return torch.bincount(flat.long(), minlength=num_codes)


def check_counts(counts, name: str = "counts") -> None:
    """``counts`` must be a float tensor (K,), K >= 1, of finite non-negative counts or frequencies."""
    check_float_tensor(counts, name)
    if counts.dim() != 1 or counts.numel() == 0:
        raise ValueError(f"{name} must have shape (K,) with K >= 1; got {tuple(counts.shape)}")
    low, high = torch.stack(torch.aminmax(counts.detach())).tolist()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} must be finite; it contains NaN or Inf")
    if low < 0:
        raise ValueError(f"{name} must be >= 0 (counts or frequencies); got min {low:.6g}")


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code distribution given per-code counts (K,): K when uniform, 1 for one code.

    Returns a scalar tensor (1 when all counts are zero). ``counts``: see :func:`check_counts`.
    """
    check_counts(counts)
    p = counts / counts.sum().clamp_min(torch.finfo(counts.dtype).tiny)
    return torch.exp(-torch.special.xlogy(p, p).sum())


def used_fraction(counts: torch.Tensor) -> torch.Tensor:
    """Fraction of codes with a non-zero count, from per-code counts (K,) (see :func:`check_counts`); a
    scalar tensor."""
    check_counts(counts)
    return (counts > 0).to(counts.dtype).mean()


def code_strength(code: SparseCode) -> torch.Tensor:
    """L1 norm of each token's coefficients, Σ_s |γ_s| → (N,) in the code's dtype."""
    check_code(code)
    return code.values.abs().sum(1)


def dominant_atom(code: SparseCode) -> torch.Tensor:
    """Index of the atom with the largest |coefficient| of each token → (N,) long; -1 for a token with
    no atom (an OMP code that stopped before its first atom)."""
    check_code(code)
    if code.indices.shape[1] == 0:
        return code.indices.new_full((code.indices.shape[0],), -1)
    magnitude = torch.where(code.indices >= 0, code.values.abs(), torch.full_like(code.values, -1.0))
    best = code.indices.gather(1, magnitude.argmax(1, keepdim=True)).squeeze(1)
    return torch.where((code.indices >= 0).any(1), best, torch.full_like(best, -1))


def mean_colors(tokens: torch.Tensor, *, channels: int = 3) -> torch.Tensor:
    """Mean colour of each pixel-patch token (K, C·p²) in the channel-major layout → (K, C), clamped to
    [0, 1]: the colour of a codeword learned on image patches (a dictionary atom's sign is arbitrary, so
    use this for VQ codewords or decoded patches)."""
    _check_rows(tokens, "tokens")
    check_positive_int(channels, "channels")
    if tokens.shape[1] % channels:
        raise ValueError(
            f"tokens must have C·p² columns with C = channels = {channels}; got {tokens.shape[1]} columns"
        )
    return tokens.reshape(tokens.shape[0], channels, -1).mean(-1).clamp(0, 1)


@dataclass
class Embedding:
    """Rows of a codebook placed in the plane.

    ``points`` (K, 2) float64 numpy array; ``method`` one of :data:`EMBEDDING_METHODS`;
    ``explained_variance`` (PCA only, else None): the fraction of the rows' total variance along each of
    the two components, computed from the singular values of the centred rows.
    """

    points: np.ndarray
    method: str
    explained_variance: tuple[float, float] | None = None


def embed(
    codebook: torch.Tensor,
    *,
    method: str = "pca",
    seed: int = 0,
    perplexity: float | None = None,
    n_neighbors: int | None = None,
) -> Embedding:
    """2-D embedding of the rows of ``codebook`` (K, M), K ≥ 3.

    ``pca``: projection on the top two principal axes (SVD of the centred rows; signs fixed so each axis'
    largest-|loading| coordinate is positive). ``tsne``: scikit-learn's Barnes-Hut t-SNE with PCA
    initialisation, ``perplexity`` default min(30, (K − 1)/3). ``umap``: umap-learn, ``n_neighbors``
    default min(15, K − 1); its first call in a process compiles numba code (~50 s).
    Seeded by ``seed``.
    """
    _check_rows(codebook, "codebook", minimum=3)
    check_choice(method, "method", EMBEDDING_METHODS)
    check_nonnegative_int(seed, "seed")
    if perplexity is not None:
        check_number(perplexity, "perplexity", minimum=0, maximum=codebook.shape[0], exclusive=True)
    if n_neighbors is not None:
        check_int(n_neighbors, "n_neighbors", minimum=2, maximum=codebook.shape[0] - 1)
    rows = codebook.detach().cpu().double()
    count = rows.shape[0]
    if method == "pca":
        centred = rows - rows.mean(0, keepdim=True)
        _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
        axes = vh[:2]
        if axes.shape[0] < 2:  # one-dimensional rows: the second axis is empty
            axes = torch.cat([axes, torch.zeros_like(axes)])
        signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True))).squeeze(1)
        axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
        total = float((singular**2).sum())
        shares = (singular[:2] ** 2 / total).tolist() if total > 0 else [0.0, 0.0]
        shares += [0.0] * (2 - len(shares))
        return Embedding((centred @ axes.T).numpy(), method, (shares[0], shares[1]))
    data = rows.numpy()
    # A codebook is small (K up to a few thousand), so one thread is fast; more threads only let torch's and
    # scikit-learn's OpenMP runtimes spin against each other (K = 20 on 2 cores: 14-18 s instead of 0.2 s).
    with threadpool_limits(1):
        if method == "tsne":
            from sklearn.manifold import TSNE

            perplexity = min(30.0, (count - 1) / 3) if perplexity is None else perplexity
            model = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
            return Embedding(np.asarray(model.fit_transform(data), dtype=np.float64), method)
        import umap

        n_neighbors = min(15, count - 1) if n_neighbors is None else n_neighbors
        model = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
        return Embedding(np.asarray(model.fit_transform(data), dtype=np.float64), method)
