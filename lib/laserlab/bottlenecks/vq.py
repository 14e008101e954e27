"""Vector quantisation: nearest-codeword search, k-means, code statistics and :class:`VectorQuantizer`.

Tokens are the latent's (dim,) vectors at each position, in batch-major order (b, h, w) — the order of
``latent.permute(0, 2, 3, 1).reshape(-1, dim)`` and of the (B, H, W) index maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_nonnegative_int, check_number, check_positive_int
from . import distributed
from .base import Bottleneck, BottleneckOutput, reset_optimizer_rows

#: decay of the usage counters when the codebook is trained by gradients (with EMA they use ``ema_decay``)
USAGE_DECAY = 0.99

# Rows per addmm block are chosen so the block's (rows, K) score matrix holds about this many elements
# (1 MiB in float32): one huge score matrix spills the cache (1.7x slower at N = 16384, K = 512).
_SCORE_BLOCK_ELEMENTS = 1 << 18

# distinct streams of the module's seed
_KMEANS_STREAM, _REPLACE_SHARED_STREAM, _REPLACE_LOCAL_STREAM = 1, 2, 3


def nearest_codeword(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword (Euclidean) of each row of ``vectors``.

    ``vectors`` (N, D) and ``codebook`` (K, D), same dtype and device → indices (N,) long. Computes
    argmin_k ‖e_k‖² − 2⟨x, e_k⟩ (‖x‖² is common to a row) with one ``addmm`` per block of rows, no N×K×D
    temporaries and no square roots; ties go to the lowest index. Not differentiable (indices only).
    """
    squared_norms = codebook.square().sum(1).unsqueeze(0)
    rows = max(1, _SCORE_BLOCK_ELEMENTS // max(1, codebook.shape[0]))
    if vectors.shape[0] <= rows:
        return torch.addmm(squared_norms, vectors, codebook.T, alpha=-2).argmin(1)
    indices = torch.empty(vectors.shape[0], dtype=torch.long, device=vectors.device)
    for start in range(0, vectors.shape[0], rows):
        block = vectors[start : start + rows]
        indices[start : start + rows] = torch.addmm(squared_norms, block, codebook.T, alpha=-2).argmin(1)
    return indices


def kmeans(
    vectors: torch.Tensor,
    num_clusters: int,
    *,
    iters: int = 10,
    cosine: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means of the rows of ``vectors`` (N, D) → (centroids (K, D), counts (K,)).

    Starts from ``num_clusters`` distinct rows drawn with ``generator`` (a CPU generator; when N < K rows
    are drawn with replacement and jittered by 1e-3 of the rows' RMS norm so no two centroids coincide),
    then ``iters`` assignment/mean steps; an empty cluster keeps its centroid. ``cosine``: spherical
    k-means — centroids are renormalised to unit length (rows should be unit-norm, so nearest in Euclidean
    distance is nearest in angle). ``counts`` are the rows assigned to each returned centroid, in
    ``vectors``' dtype.
    """
    n, d = vectors.shape
    device = vectors.device
    if n >= num_clusters:
        start = torch.randperm(n, generator=generator)[:num_clusters]
        centroids = vectors[start.to(device)].clone()
    else:
        start = torch.randint(n, (num_clusters,), generator=generator)
        rms = vectors.square().sum(1).mean().sqrt()
        jitter = torch.randn(num_clusters, d, generator=generator, dtype=vectors.dtype)
        centroids = vectors[start.to(device)] + 1e-3 * rms * jitter.to(device)
    if cosine:
        centroids = F.normalize(centroids, dim=1)
    for _ in range(iters):
        labels = nearest_codeword(vectors, centroids)
        counts = torch.bincount(labels, minlength=num_clusters).to(vectors.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, labels, vectors)
        means = sums / counts.clamp_min(1).unsqueeze(1)
        if cosine:
            means = F.normalize(means, dim=1)
        centroids = torch.where((counts > 0).unsqueeze(1), means, centroids)
    labels = nearest_codeword(vectors, centroids)
    return centroids, torch.bincount(labels, minlength=num_clusters).to(vectors.dtype)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code distribution given per-code counts (K,): K when uniform, 1 for one code.

    Returns a scalar tensor (1 when all counts are zero).
    """
    p = counts / counts.sum().clamp_min(torch.finfo(counts.dtype).tiny)
    return torch.exp(-torch.special.xlogy(p, p).sum())


def usage(counts: torch.Tensor) -> torch.Tensor:
    """Fraction of codes with a non-zero count, from per-code counts (K,); a scalar tensor."""
    return (counts > 0).to(counts.dtype).mean()


def rotation_trick(vectors: torch.Tensor, codewords: torch.Tensor) -> torch.Tensor:
    """Rotation-trick estimator (Fifty et al. 2024, "Restructuring Vector Quantization with the Rotation
    Trick", §4.2): value ``codewords``, gradient to ``vectors`` through a fixed rotation and rescaling.

    ``vectors`` (N, D) with gradient, ``codewords`` (N, D) (treated as constants). Each x is mapped onto
    its codeword q by λR x with R the rotation in the plane of x and q taking x̂ to q̂ (identity on the
    complement), written with Householder vectors as R = I − 2wwᵀ + 2q̂x̂ᵀ, w = (x̂ + q̂)/‖x̂ + q̂‖, and
    λ = ‖q‖/‖x‖; R and λ carry no gradient, so ∂L/∂x = λRᵀ ∂L/∂q̃ — the gradient is rotated like the
    vector instead of copied as by the straight-through estimator. The returned value is ``codewords``
    exactly (the rotated vector only carries the gradient).
    """
    codewords = codewords.detach()
    with torch.no_grad():
        x_norm = vectors.norm(dim=1, keepdim=True)
        u = vectors / x_norm.clamp_min(torch.finfo(vectors.dtype).tiny)
        q = F.normalize(codewords, dim=1)
        w = F.normalize(u + q, dim=1)
        scale = codewords.norm(dim=1, keepdim=True) / x_norm.clamp_min(torch.finfo(vectors.dtype).eps)
    rotated = (
        vectors - 2 * (vectors * w).sum(1, keepdim=True) * w + 2 * (vectors * u).sum(1, keepdim=True) * q
    )
    rotated = rotated * scale
    return codewords + (rotated - rotated.detach())


def _seed(*entropy: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence), identical on every rank."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0]) >> 1


@dataclass
class _Pending:
    """Sufficient statistics stashed by training forwards until :meth:`VectorQuantizer.update`."""

    counts: torch.Tensor  # (K,) assignments per code, summed over forwards
    sums: torch.Tensor | None  # (K, code_dim) sum of assigned code-space vectors (EMA only)
    samples: torch.Tensor  # (N, code_dim) code-space vectors of the latest forward: replacement candidates


class VectorQuantizer(Bottleneck):
    """Vector quantiser over the positions of a latent (B, dim, H, W), codes (B, H, W) in [0, num_codes).

    Each position's (dim,) vector is (optionally) projected to ``code_dim`` and l2-normalised
    (``cosine``), replaced by its nearest codeword (:func:`nearest_codeword`), and projected back; the
    encoder gets the straight-through gradient (or the :func:`rotation_trick` one).

    Losses (mean squared errors over tokens and code dimensions, x the code-space vector, e its codeword,
    sg = stop-gradient): without EMA, ``‖sg(x) − e‖² + commitment·‖x − sg(e)‖²`` and the codebook is a
    parameter the optimiser trains; with ``ema_decay`` only ``commitment·‖x − sg(e)‖²`` and the codebook
    is a buffer updated by :meth:`update` from EMA counts and sums with Laplace smoothing (Oord et al.
    2017, App. A.1) — never by the optimiser. Codes no vector has been assigned to yet keep their value.

    Options:

    - ``kmeans_init`` — the first training-mode forward sets the codebook by k-means (``kmeans_iters``
      Lloyd steps) on that batch's vectors from all ranks; until then (e.g. a validation sanity check) the
      random initial codebook is used.
    - ``dead_code_threshold`` — after each :meth:`update`, codes whose usage (bias-corrected EMA of
      assignments per update step, summed over ranks) is below it are replaced by random vectors of the
      current batch (from all ranks, shared seed); 0 turns replacement off. A replaced code's usage restarts
      at the threshold. With a gradient-trained codebook pass the optimiser to :meth:`update` to reset
      the replaced rows' optimiser state.
    - ``cosine`` — vectors and codewords are l2-normalised; the nearest codeword is the most similar one.
    - ``code_dim`` — codes live in a ``code_dim``-dimensional space reached by learned linear maps
      dim → code_dim → dim (a factorised codebook); ``None`` or ``dim``: no projection.
    - ``rotation_trick`` — the rotation-trick gradient estimator instead of straight-through.
    - ``laplace_epsilon`` — additive smoothing of the EMA counts; ``seed`` — every random draw of the module
      (initial codebook, k-means start, replacement samples), identical on every rank.

    Statistics (``stats``): ``perplexity`` and ``usage`` of this batch's codes (this rank), ``dead_codes``
    (codes whose tracked usage is below ``dead_code_threshold``, or below one assignment per update step
    when replacement is off; this batch's unused codes before the first update), ``quantization_error``
    (mean ‖x − e‖² per code dimension) and ``bits_per_token`` (log2 num_codes).

    Computation runs in the module's dtype (float32, or float64 after ``.double()``) with autocast off;
    lower-precision latents (autocast) are upcast and the output has the latent's dtype.
    """

    def __init__(
        self,
        num_codes: int,
        dim: int,
        *,
        commitment: float = 0.25,
        ema_decay: float | None = None,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        cosine: bool = False,
        code_dim: int | None = None,
        rotation_trick: bool = False,
        laplace_epsilon: float = 1e-5,
        seed: int = 0,
    ):
        super().__init__(dim)
        check_positive_int(num_codes, "num_codes")
        check_number(commitment, "commitment", minimum=0)
        if ema_decay is not None:
            check_number(ema_decay, "ema_decay", minimum=0, maximum=1, exclusive=True)
        check_positive_int(kmeans_iters, "kmeans_iters")
        check_number(dead_code_threshold, "dead_code_threshold", minimum=0)
        if code_dim is not None:
            check_positive_int(code_dim, "code_dim")
        check_number(laplace_epsilon, "laplace_epsilon", minimum=0, exclusive=True)
        check_nonnegative_int(seed, "seed")
        for flag, name in (
            (kmeans_init, "kmeans_init"),
            (cosine, "cosine"),
            (rotation_trick, "rotation_trick"),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool; got {flag!r}")

        self.num_codes = num_codes
        self.code_dim = dim if code_dim is None else code_dim
        self.commitment = float(commitment)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = float(dead_code_threshold)
        self.cosine = cosine
        self.rotation_trick = rotation_trick
        self.laplace_epsilon = float(laplace_epsilon)
        self.seed = seed

        projected = self.code_dim != dim
        self.project_in = nn.Linear(dim, self.code_dim) if projected else None
        self.project_out = nn.Linear(self.code_dim, dim) if projected else None

        initial = torch.randn(num_codes, self.code_dim, generator=torch.Generator().manual_seed(seed))
        if cosine:
            initial = F.normalize(initial, dim=1)
        if self.uses_ema:
            self.register_buffer("codebook", initial)
            self.register_buffer("ema_sums", torch.zeros(num_codes, self.code_dim))
        else:
            self.codebook = nn.Parameter(initial)
        # assignments per update step (EMA, summed over ranks) and the EMA of 1 that bias-corrects it
        self.register_buffer("ema_counts", torch.zeros(num_codes))
        self.register_buffer("ema_weight", torch.zeros(()))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("update_steps", torch.zeros((), dtype=torch.long))
        self._pending: _Pending | None = None

    @property
    def uses_ema(self) -> bool:
        return self.ema_decay is not None

    @property
    def bits_per_token(self) -> float:
        return math.log2(self.num_codes)

    @property
    def needs_update(self) -> bool:
        return True  # usage tracking always; EMA and dead-code replacement when enabled

    @property
    def decay(self) -> float:
        """Decay of the usage counters (and of the EMA codebook statistics)."""
        return USAGE_DECAY if self.ema_decay is None else self.ema_decay

    def codewords(self) -> torch.Tensor:
        """The codebook as used, (num_codes, code_dim): unit-norm rows with ``cosine``."""
        return F.normalize(self.codebook, dim=1) if self.cosine else self.codebook

    def code_usage(self) -> torch.Tensor:
        """Tracked usage per code (num_codes,): bias-corrected EMA of assignments per update step."""
        return self.ema_counts / self.ema_weight.clamp_min(torch.finfo(self.ema_weight.dtype).tiny)

    def extra_repr(self) -> str:
        options = [f"num_codes={self.num_codes}", f"dim={self.dim}", f"commitment={self.commitment}"]
        if self.code_dim != self.dim:
            options.append(f"code_dim={self.code_dim}")
        if self.uses_ema:
            options.append(f"ema_decay={self.ema_decay}")
        if self.dead_code_threshold:
            options.append(f"dead_code_threshold={self.dead_code_threshold}")
        options += [name for name in ("cosine", "rotation_trick") if getattr(self, name)]
        if not bool(self.initialized):
            options.append("kmeans_init pending")
        return ", ".join(options)

    # ---------------------------------------------------------------- forward
    def _code_space(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, dim, H, W) → code-space token vectors (B·H·W, code_dim) in the module's dtype."""
        dtype = self.codebook.dtype
        if torch.finfo(latent.dtype).bits > torch.finfo(dtype).bits:
            raise TypeError(
                f"latent is {latent.dtype} but the VectorQuantizer computes in {dtype}; "
                f"convert the bottleneck with .to({latent.dtype}) or pass a {dtype} latent"
            )
        tokens = latent.permute(0, 2, 3, 1).reshape(-1, self.dim).to(dtype)
        x = self.project_in(tokens) if self.project_in is not None else tokens
        return F.normalize(x, dim=1) if self.cosine else x

    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        b, _, h, w = latent.shape
        with torch.autocast(device_type=latent.device.type, enabled=False):
            x = self._code_space(latent)
            if self.training and not bool(self.initialized):
                self._kmeans_initialize(x.detach())
            codebook = self.codewords()
            indices = nearest_codeword(x.detach(), codebook.detach())
            selected = F.embedding(indices, codebook)  # gradient reaches a trained codebook
            commitment = F.mse_loss(x, selected.detach())
            if self.uses_ema:
                loss = self.commitment * commitment
            elif selected.requires_grad:
                loss = F.mse_loss(selected, x.detach()) + self.commitment * commitment
            else:
                loss = (1 + self.commitment) * commitment  # same value; nothing to differentiate
            if not x.requires_grad:
                quantized = selected.detach()  # what either estimator returns, without the gradient plumbing
            elif self.rotation_trick:
                quantized = rotation_trick(x, selected)
            else:
                quantized = selected.detach() + (x - x.detach())  # exact codeword value, identity gradient
            if self.project_out is not None:
                quantized = self.project_out(quantized)
            quantized = quantized.view(b, h, w, self.dim).permute(0, 3, 1, 2)
            quantized = quantized.to(latent.dtype, memory_format=torch.contiguous_format, copy=True)

            counts = torch.bincount(indices, minlength=self.num_codes).to(x.dtype)
            if self.training:
                self._stash(counts, x.detach(), indices)
            stats = {
                "perplexity": perplexity(counts),
                "usage": usage(counts),
                "dead_codes": self._dead_codes(counts),
                "quantization_error": commitment.detach(),
                "bits_per_token": torch.tensor(self.bits_per_token, dtype=x.dtype, device=x.device),
            }
        return BottleneckOutput(quantized=quantized, loss=loss, codes=indices.view(b, h, w), stats=stats)

    def _dead_codes(self, batch_counts: torch.Tensor) -> torch.Tensor:
        threshold = self.dead_code_threshold if self.dead_code_threshold > 0 else 1.0
        tracked = (self.code_usage() < threshold).sum()
        unused_now = (batch_counts == 0).sum()
        return torch.where(self.ema_weight > 0, tracked, unused_now).to(batch_counts.dtype)

    def _stash(self, counts: torch.Tensor, x: torch.Tensor, indices: torch.Tensor) -> None:
        sums = torch.zeros_like(self.codebook).index_add_(0, indices, x) if self.uses_ema else None
        if self._pending is None:
            self._pending = _Pending(counts.clone(), sums, x)
            return
        self._pending.counts += counts
        if sums is not None:
            self._pending.sums += sums
        self._pending.samples = x

    @torch.no_grad()
    def encode_to_indices(self, latent: torch.Tensor) -> torch.Tensor:
        """Codeword indices (B, H, W) long of a latent (B, dim, H, W); changes no state."""
        self.check_latent(latent)
        b, _, h, w = latent.shape
        with torch.autocast(device_type=latent.device.type, enabled=False):
            return nearest_codeword(self._code_space(latent), self.codewords()).view(b, h, w)

    def decode_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The quantised latent (B, dim, H, W) in the module's dtype for codeword indices (B, H, W)."""
        if not isinstance(indices, torch.Tensor) or indices.dtype != torch.long:
            got = indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__
            raise TypeError(f"indices must be a torch.long tensor (B, H, W); got {got}")
        if indices.dim() != 3:
            raise ValueError(f"indices must have shape (B, H, W); got {tuple(indices.shape)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_codes):
            raise ValueError(
                f"indices must lie in [0, num_codes) = [0, {self.num_codes}); "
                f"got min {int(indices.min())}, max {int(indices.max())}"
            )
        vectors = F.embedding(indices, self.codewords())
        if self.project_out is not None:
            vectors = self.project_out(vectors)
        return vectors.permute(0, 3, 1, 2).contiguous()

    # ---------------------------------------------------------------- non-gradient updates
    def _kmeans_initialize(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            data = distributed.all_gather_rows(x)
            generator = distributed.shared_generator(_seed(self.seed, _KMEANS_STREAM))
            centroids, counts = kmeans(
                data, self.num_codes, iters=self.kmeans_iters, cosine=self.cosine, generator=generator
            )
            distributed.broadcast_(centroids, counts)  # scatter-add sums may round differently per GPU
            self.codebook.copy_(centroids)
            self.ema_counts.copy_(counts)
            self.ema_weight.fill_(1.0)
            if self.uses_ema:
                self.ema_sums.copy_(centroids * counts.unsqueeze(1))
            self.initialized.fill_(True)

    def _apply_updates(self, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor]:
        pending, self._pending = self._pending, None
        if pending is None:
            return {}
        counts = pending.counts.to(self.ema_counts.dtype)
        if self.uses_ema:
            sums = pending.sums.to(self.ema_sums.dtype)
            distributed.all_reduce_sum_(counts, sums)
        else:
            distributed.all_reduce_sum_(counts)
        keep = self.decay
        self.ema_counts.mul_(keep).add_(counts, alpha=1 - keep)
        self.ema_weight.mul_(keep).add_(1 - keep)
        if self.uses_ema:
            self.ema_sums.mul_(keep).add_(sums, alpha=1 - keep)
            self._refresh_ema_codebook()
        replaced = 0
        if self.dead_code_threshold > 0:
            replaced = self._replace_dead_codes(pending.samples.to(self.codebook.dtype), optimizer)
        self.update_steps += 1
        return {"replaced_codes": torch.tensor(float(replaced))}

    def _refresh_ema_codebook(self) -> None:
        total = self.ema_counts.sum()
        smoothed = (self.ema_counts + self.laplace_epsilon) / (total + self.num_codes * self.laplace_epsilon)
        means = self.ema_sums / (smoothed * total).unsqueeze(1)
        if self.cosine:
            means = F.normalize(means, dim=1)
        self.codebook.copy_(torch.where((self.ema_counts > 0).unsqueeze(1), means, self.codebook))

    def _replace_dead_codes(self, samples: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> int:
        # usage is identical on every rank (all-reduced), so every rank agrees on `dead` and its size
        dead = (self.code_usage() < self.dead_code_threshold).nonzero().squeeze(1)
        if dead.numel() == 0:
            return 0
        step = int(self.update_steps)
        local = torch.Generator().manual_seed(
            _seed(self.seed, _REPLACE_LOCAL_STREAM, step, distributed.rank())
        )
        take = torch.randperm(samples.shape[0], generator=local)[: dead.numel()]
        candidates = distributed.all_gather_rows(samples[take.to(samples.device)])
        shared = distributed.shared_generator(_seed(self.seed, _REPLACE_SHARED_STREAM, step))
        if candidates.shape[0] >= dead.numel():
            pick = torch.randperm(candidates.shape[0], generator=shared)[: dead.numel()]
        else:
            pick = torch.randint(candidates.shape[0], (dead.numel(),), generator=shared)
        replacements = candidates[pick.to(candidates.device)]
        self.codebook[dead] = replacements
        self.ema_counts[dead] = self.dead_code_threshold * self.ema_weight
        if self.uses_ema:
            self.ema_sums[dead] = replacements * self.ema_counts[dead].unsqueeze(1)
        elif optimizer is not None:
            reset_optimizer_rows(optimizer, self.codebook, dead)
        return dead.numel()
