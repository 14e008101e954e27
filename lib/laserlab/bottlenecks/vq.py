"""Vector quantisation: :class:`VectorQuantizer` and the rotation-trick gradient estimator.

Tokens are the latent's (dim,) vectors at each position, in batch-major order (b, h, w) — the order of
``latent.permute(0, 2, 3, 1).reshape(-1, dim)`` and of the (B, H, W) index maps. The nearest-codeword
search and k-means live in :mod:`laserlab.sparse.kmeans`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_finite, check_float_tensor, check_number, check_positive_int
from ..scaling import row_norms, unit_rows
from ..sparse.kmeans import nearest_codeword
from . import distributed
from .base import Bottleneck, BottleneckOutput, PendingUpdate, derive_seed

# distinct streams of the module's seed
_KMEANS_STREAM, _REPLACE_SHARED_STREAM, _REPLACE_LOCAL_STREAM = 1, 2, 3


def rotation_trick(vectors: torch.Tensor, codewords: torch.Tensor) -> torch.Tensor:
    """Rotation-trick estimator (Fifty et al. 2024, "Restructuring Vector Quantization with the Rotation
    Trick", §4.2): value ``codewords``, gradient to ``vectors`` through a fixed rotation and rescaling.

    ``vectors`` (N, D) with gradient, ``codewords`` (N, D) (treated as constants). Each x is mapped onto
    its codeword q by λR x with R the rotation in the plane of x and q taking x̂ to q̂ (identity on the
    complement), written with Householder vectors as R = I − 2wwᵀ + 2q̂x̂ᵀ, w = (x̂ + q̂)/‖x̂ + q̂‖, and
    λ = ‖q‖/‖x‖; R and λ carry no gradient, so ∂L/∂x = λRᵀ ∂L/∂q̃ — the gradient is rotated like the
    vector instead of copied as by the straight-through estimator. The returned value is ``codewords``
    exactly (the rotated vector only carries the gradient). Norms are computed scale-safely
    (:func:`laserlab.scaling.row_norms`), so vectors of any finite magnitude rotate correctly.
    """
    check_float_tensor(vectors, "vectors")
    check_float_tensor(codewords, "codewords")
    if vectors.dim() != 2 or codewords.shape != vectors.shape:
        raise ValueError(
            f"vectors and codewords must have the same shape (N, D); got {tuple(vectors.shape)} and "
            f"{tuple(codewords.shape)}"
        )
    check_finite(vectors.detach(), "vectors")
    check_finite(codewords.detach(), "codewords")
    codewords = codewords.detach()
    with torch.no_grad():
        x_norm = row_norms(vectors, keepdim=True)
        u = vectors / x_norm.clamp_min(torch.finfo(vectors.dtype).tiny)
        q = unit_rows(codewords)
        w = F.normalize(u + q, dim=1)
        scale = row_norms(codewords, keepdim=True) / x_norm.clamp_min(torch.finfo(vectors.dtype).eps)
    rotated = (
        vectors - 2 * (vectors * w).sum(1, keepdim=True) * w + 2 * (vectors * u).sum(1, keepdim=True) * q
    )
    rotated = rotated * scale
    return codewords + (rotated - rotated.detach())


class VectorQuantizer(Bottleneck):
    """Vector quantiser over the positions of a latent (B, dim, H, W), codes (B, H, W) in [0, num_codes).

    Each position's (dim,) vector is (optionally) projected to ``code_dim`` and l2-normalised
    (``cosine``), replaced by its nearest codeword (:func:`~laserlab.sparse.kmeans.nearest_codeword`), and
    projected back; the encoder gets the straight-through gradient (or the :func:`rotation_trick` one).

    Losses (mean squared errors over tokens and code dimensions, x the code-space vector, e its codeword,
    sg = stop-gradient): without EMA, ``‖sg(x) − e‖² + commitment·‖x − sg(e)‖²`` and the codebook is a
    parameter the optimiser trains; with ``ema_decay`` only ``commitment·‖x − sg(e)‖²`` and the codebook
    is a buffer updated by :meth:`update` from EMA counts and sums with Laplace smoothing (Oord et al.
    2017, App. A.1) — never by the optimiser. Codes no vector has been assigned to yet keep their value.

    Codes (:meth:`encode`, ``forward(...).codes``): codeword indices, a long tensor (B, H, W) in
    [0, num_codes); :meth:`decode` maps them back to the latent (B, dim, H, W).

    Options:

    - ``kmeans_init`` — the first training-mode forward sets the codebook by k-means on that batch's
      code-space vectors from all ranks: ``kmeans_iters`` Lloyd steps from distinct random vectors
      (spherical with ``cosine``); the tracked usage starts from the cluster sizes.
    - ``dead_threshold`` — after each :meth:`update`, codes whose tracked usage (fraction of the step's
      tokens assigned to them, EMA with ``usage_decay``; see :mod:`laserlab.bottlenecks.base`) is below it
      are replaced by random vectors of the current batch (from all ranks, shared seed); 0 turns replacement
      off. With a gradient-trained codebook pass the optimiser to :meth:`update` to reset the replaced
      rows' optimiser state.
    - ``cosine`` — vectors and codewords are l2-normalised; the nearest codeword is the most similar one.
    - ``code_dim`` — codes live in a ``code_dim``-dimensional space reached by learned linear maps
      dim → code_dim → dim (a factorised codebook); ``None`` or ``dim``: no projection.
    - ``rotation_trick`` — the rotation-trick gradient estimator instead of straight-through.
    - ``laplace_epsilon`` — additive smoothing of the EMA counts; ``seed`` — every random draw of the module
      (initial codebook, k-means start, replacement samples), identical on every rank.

    Statistics (``stats``): ``perplexity``, ``usage``, ``sparsity`` (1: one codeword per token) and
    ``dead_entries`` of the codes (:meth:`~laserlab.bottlenecks.base.Bottleneck.entry_stats`, this rank's
    batch), ``quantization_error`` (mean ‖x − e‖² per code dimension) and ``bits_per_token`` (log2
    num_codes).

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
        dead_threshold: float = 0.0,
        usage_decay: float = 0.99,
        cosine: bool = False,
        code_dim: int | None = None,
        rotation_trick: bool = False,
        laplace_epsilon: float = 1e-5,
        seed: int = 0,
    ):
        check_positive_int(num_codes, "num_codes")
        super().__init__(
            dim, num_codes, dead_threshold=dead_threshold, usage_decay=usage_decay, kmeans_init=kmeans_init,
            kmeans_iters=kmeans_iters, seed=seed,
        )  # fmt: skip
        check_number(commitment, "commitment", minimum=0)
        if ema_decay is not None:
            check_number(ema_decay, "ema_decay", minimum=0, maximum=1, exclusive=True)
        if code_dim is not None:
            check_positive_int(code_dim, "code_dim")
        check_number(laplace_epsilon, "laplace_epsilon", minimum=0, exclusive=True)
        check_bool(cosine, "cosine")
        check_bool(rotation_trick, "rotation_trick")

        self.num_codes = num_codes
        self.code_dim = dim if code_dim is None else code_dim
        self.commitment = float(commitment)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.cosine = cosine
        self.rotation_trick = rotation_trick
        self.laplace_epsilon = float(laplace_epsilon)

        projected = self.code_dim != dim
        self.project_in = nn.Linear(dim, self.code_dim) if projected else None
        self.project_out = nn.Linear(self.code_dim, dim) if projected else None

        initial = torch.randn(num_codes, self.code_dim, generator=torch.Generator().manual_seed(seed))
        if cosine:
            initial = F.normalize(initial, dim=1)
        if self.uses_ema:
            self.register_buffer("codebook", initial)
            # EMA of the assignments and of the assigned vectors' sums per code, per update step
            self.register_buffer("ema_counts", torch.zeros(num_codes))
            self.register_buffer("ema_sums", torch.zeros(num_codes, self.code_dim))
        else:
            self.codebook = nn.Parameter(initial)

    @property
    def uses_ema(self) -> bool:
        return self.ema_decay is not None

    @property
    def entries(self) -> torch.Tensor:
        return self.codebook

    @property
    def bits_per_token(self) -> float:
        return math.log2(self.num_codes)

    def codewords(self) -> torch.Tensor:
        """The codebook as used, (num_codes, code_dim): unit-norm rows with ``cosine``."""
        return unit_rows(self.codebook) if self.cosine else self.codebook

    def extra_repr(self) -> str:
        options = [f"num_codes={self.num_codes}", f"dim={self.dim}", f"commitment={self.commitment}"]
        if self.code_dim != self.dim:
            options.append(f"code_dim={self.code_dim}")
        if self.uses_ema:
            options.append(f"ema_decay={self.ema_decay}")
        if self.dead_threshold:
            options.append(f"dead_threshold={self.dead_threshold}")
        options += [name for name in ("cosine", "rotation_trick") if getattr(self, name)]
        if not bool(self.initialized):
            options.append("kmeans_init pending")
        return ", ".join(options)

    # ---------------------------------------------------------------- forward, encode, decode
    def _code_space(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, dim, H, W) → code-space token vectors (B·H·W, code_dim) in the module's dtype."""
        tokens = self.in_compute_dtype(latent).permute(0, 2, 3, 1).reshape(-1, self.dim)
        x = self.project_in(tokens) if self.project_in is not None else tokens
        return unit_rows(x) if self.cosine else x

    def _from_code_space(self, vectors: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Code-space vectors (B·H·W, code_dim) → the latent (B, dim, H, W) of the (B, H, W) ``grid``."""
        if self.project_out is not None:
            vectors = self.project_out(vectors)
        return vectors.view(*grid, self.dim).permute(0, 3, 1, 2)

    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        b, _, h, w = latent.shape
        with torch.autocast(device_type=latent.device.type, enabled=False):
            x = self._code_space(latent)
            self._initialize_once(x)
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
            quantized = self._from_code_space(quantized, (b, h, w))
            quantized = quantized.to(latent.dtype, memory_format=torch.contiguous_format, copy=True)

            counts = torch.bincount(indices, minlength=self.num_codes).to(x.dtype)
            if self.training:
                sums = None
                if self.uses_ema:
                    sums = torch.zeros_like(self.codebook).index_add_(0, indices, x.detach())
                self._stash(counts, indices.numel(), sums=sums, batch=x.detach())
            stats = {
                **self.entry_stats(counts, indices.numel()),
                "quantization_error": commitment.detach(),
                "bits_per_token": torch.tensor(self.bits_per_token, dtype=x.dtype, device=x.device),
            }
        return BottleneckOutput(quantized=quantized, loss=loss, codes=indices.view(b, h, w), stats=stats)

    def _encode(self, latent: torch.Tensor) -> torch.Tensor:
        b, _, h, w = latent.shape
        return nearest_codeword(self._code_space(latent), self.codewords()).view(b, h, w)

    def check_codes(self, codes, name: str = "codes") -> None:
        """``codes`` must be codeword indices: a torch.long tensor (B, H, W) with B, H, W >= 1 and values in
        [0, num_codes)."""
        if not isinstance(codes, torch.Tensor) or codes.dtype != torch.long:
            got = codes.dtype if isinstance(codes, torch.Tensor) else type(codes).__name__
            raise TypeError(f"{name} must be a torch.long tensor (B, H, W) of codeword indices; got {got}")
        if codes.dim() != 3 or codes.numel() == 0:
            raise ValueError(f"{name} must have shape (B, H, W) with B, H, W >= 1; got {tuple(codes.shape)}")
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= self.num_codes:
            raise ValueError(
                f"{name} must lie in [0, num_codes) = [0, {self.num_codes}); got min {low}, max {high}"
            )

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        vectors = F.embedding(codes.reshape(-1), self.codewords())
        return self._from_code_space(vectors, tuple(codes.shape)).contiguous()

    # ---------------------------------------------------------------- non-gradient updates
    def _initialize(self, tokens: torch.Tensor) -> None:
        result = self.shared_kmeans(tokens, stream=_KMEANS_STREAM, start="random", spherical=self.cosine)
        self.codebook.copy_(result.centroids)
        self.usage_ema.copy_(result.counts / result.counts.sum())
        self.usage_weight.fill_(1.0)
        if self.uses_ema:
            self.ema_counts.copy_(result.counts)
            self.ema_sums.copy_(result.centroids * result.counts.unsqueeze(1))

    def _learn(self, pending: PendingUpdate, counts: torch.Tensor, sums: torch.Tensor | None) -> torch.Tensor:
        """Fold the step into the EMA codebook; return the latest forward's vectors (revival candidates)."""
        if self.uses_ema:
            keep = self.ema_decay
            self.ema_counts.mul_(keep).add_(counts, alpha=1 - keep)
            self.ema_sums.mul_(keep).add_(sums, alpha=1 - keep)
            total = self.ema_counts.sum()
            eps = self.laplace_epsilon
            smoothed = (self.ema_counts + eps) / (total + self.num_codes * eps)
            means = self.ema_sums / (smoothed * total).unsqueeze(1)
            if self.cosine:
                means = unit_rows(means)
            self.codebook.copy_(torch.where((self.ema_counts > 0).unsqueeze(1), means, self.codebook))
        return pending.batches[-1]

    def _revive(self, dead: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        """Dead codes become random vectors of the latest batch, drawn from all ranks with a shared seed."""
        dead_rows = dead.nonzero().squeeze(1)
        step = int(self.update_steps)
        local = torch.Generator().manual_seed(
            derive_seed(self.seed, _REPLACE_LOCAL_STREAM, step, distributed.rank())
        )
        samples = samples.to(self.codebook.dtype)
        take = torch.randperm(samples.shape[0], generator=local)[: dead_rows.numel()]
        candidates = distributed.all_gather_rows(samples[take.to(samples.device)])
        shared = distributed.shared_generator(derive_seed(self.seed, _REPLACE_SHARED_STREAM, step))
        if candidates.shape[0] >= dead_rows.numel():
            pick = torch.randperm(candidates.shape[0], generator=shared)[: dead_rows.numel()]
        else:
            pick = torch.randint(candidates.shape[0], (dead_rows.numel(),), generator=shared)
        replacements = candidates[pick.to(candidates.device)]
        self.codebook[dead_rows] = replacements
        if self.uses_ema:
            # the EMA statistics of a revived code: the threshold's share of the tracked tokens per step
            self.ema_counts[dead_rows] = self.dead_threshold * self.ema_counts.sum()
            self.ema_sums[dead_rows] = replacements * self.ema_counts[dead_rows].unsqueeze(1)
        return dead
