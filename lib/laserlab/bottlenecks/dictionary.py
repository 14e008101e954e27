"""Sparse-dictionary bottleneck: each patch token of the latent becomes an S-sparse code over K learned atoms.

Tokens are the ``patch_size``×``patch_size`` patches of the latent (B, dim, H, W) as vectors of length
M = dim·p², in the layout and order of :mod:`laserlab.bottlenecks.patches` (channel-major vectors,
batch-major tokens; sizes that p does not divide are replicate-padded and the padding is cropped after
decoding, an exact inverse). Coding runs :func:`laserlab.sparse.code` (``solver`` "omp": exact Batch-OMP,
"mp": matching pursuit) under ``no_grad``: support and coefficients are constants, the reconstruction
D_I·γ is differentiable in the dictionary.

Dictionary learning rules (``update_rule``):

- ``"gradient"`` — the dictionary is an ``nn.Parameter`` trained by the optimiser through the dictionary
  loss. The forward uses the row-normalised parameter, so the gradient of each atom is already tangent to
  the unit sphere; :meth:`~Bottleneck.update` re-projects the rows onto the sphere after the step.
- ``"online"`` — Mairal et al. online dictionary learning (:func:`laserlab.sparse.online_update`): decayed
  sufficient statistics A (K, K), B (K, M) are buffers; each update folds in the codes of the step.
- ``"ksvd"`` / ``"approx_ksvd"`` — one exact / approximate K-SVD sweep (:func:`laserlab.sparse.ksvd_update`)
  over the tokens and codes of the step.

For the non-gradient rules the dictionary is a buffer; a training forward stashes its tokens and codes, and
``update()`` gathers them from every ``torch.distributed`` rank, applies the rule to the gathered step on
every rank and broadcasts rank 0's result, so all ranks hold identical dictionaries.

Dead atoms (tracked usage below ``dead_threshold``, as for every bottleneck: see
:mod:`laserlab.bottlenecks.base`) are replaced by the worst-represented tokens of the step (largest residual
energy, gathered from all ranks), normalised (Aharon et al.; ksvdbox) — with the gradient rule the optimiser
state of those rows is reset when the optimiser is passed to ``update``; with the online rule their rows of
A and B are cleared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import sparse
from ..checks import check_choice, check_finite, check_number, check_positive_int
from ..scaling import unit_rows
from ..sparse import SOLVERS, SparseCode, ksvd_update, online_update, replace_unused_atoms
from ..sparse.omp import combine_atoms
from ..sparse.online import OnlineState, check_forgetting
from ..sparse.rate import QuantizedCode, check_value_bits, dequantize, quantize_values, support_bits
from . import distributed
from .base import Bottleneck, BottleneckOutput, PendingUpdate, derive_seed
from .patches import PatchCode, from_tokens, to_tokens

#: the dictionary learning rules of :class:`DictionaryBottleneck` (its ``update_rule`` option)
UPDATE_RULES = ("gradient", "online", "ksvd", "approx_ksvd")

# distinct streams of the module's seed
_INIT_STREAM, _KMEANS_STREAM = 1, 2


class DictionaryBottleneck(Bottleneck):
    """S-sparse coding of the patch tokens of a latent (B, dim, H, W) over ``num_atoms`` unit-norm atoms.

    Each token x (length M = dim·patch_size²) is coded as x̂ = Σ γ_s d_{i_s} with at most ``sparsity`` atoms
    by ``solver`` ("omp": exact Batch-OMP; "mp": matching pursuit, which never re-fits). With ``value_bits``
    the coefficients go through a uniform ``value_bits``-bit quantiser (:func:`laserlab.sparse.rate.
    quantize_values`, range = the batch's largest |γ|, sent once per batch) and the decoder sees the
    dequantised values. ``quantized`` has the value x̂ (cropped back to the latent) and the straight-through
    gradient: the identity to the latent.

    Codes (:meth:`encode`, ``forward(...).codes``): a :class:`~laserlab.bottlenecks.patches.PatchCode`
    whose ``sparse`` is the (N, S) code of the N = B·⌈H/p⌉·⌈W/p⌉ tokens — a
    :class:`~laserlab.sparse.rate.QuantizedCode` (with the transmitted ``symbols`` and ``max_abs``) when
    ``value_bits`` is set, else a :class:`~laserlab.sparse.SparseCode` — and ``shape`` the latent's.

    Loss (means over tokens and token dimensions, sg = stop-gradient): with ``update_rule="gradient"``
    ``dictionary_weight·‖sg(x) − x̂‖² + commitment·‖x − sg(x̂)‖²``; with the other rules only
    ``commitment·‖x − sg(x̂)‖²`` (the dictionary is a buffer the optimiser never sees).

    Options:

    - ``update_rule`` — one of :data:`UPDATE_RULES` (see the module docstring).
    - ``forgetting``, ``online_sweeps`` — the online rule's forgetting factor β in (0, 1] and
      block-coordinate-descent passes per update.
    - ``dead_threshold``, ``usage_decay`` — dead-atom replacement (module docstring); 0 turns it off.
    - ``kmeans_init`` — the first training-mode forward sets the atoms by k-means (k-means++ start,
      ``kmeans_iters`` Lloyd steps, then normalised) on that batch's tokens from all ranks; with fewer
      tokens than atoms only the first N atoms are set and the others keep their random initial value.
      Otherwise the atoms start as normalised Gaussian vectors drawn from ``seed``.

    Statistics (``stats``, this rank's batch): ``perplexity``, ``usage``, ``sparsity`` (mean atoms per
    token) and ``dead_entries`` of the atoms (:meth:`~Bottleneck.entry_stats`; a token uses the atoms of its
    code), ``quantization_error`` (mean ‖x − x̂‖² per token dimension) and ``bits_per_token``.

    Rate (``bits_per_token``, fixed rate): log2 C(K, S) for the support plus S coefficients of ``value_bits``
    bits each, or of the dictionary's float width (32 or 64) when the values are not quantised.

    Computation runs in the module's dtype (float32, or float64 after ``.double()``) with autocast off.
    """

    def __init__(
        self,
        num_atoms: int,
        dim: int,
        *,
        sparsity: int,
        patch_size: int = 1,
        solver: str = "omp",
        update_rule: str = "gradient",
        commitment: float = 0.25,
        dictionary_weight: float = 1.0,
        value_bits: int | None = None,
        dead_threshold: float = 1e-3,
        usage_decay: float = 0.99,
        forgetting: float = 0.95,
        online_sweeps: int = 1,
        kmeans_init: bool = False,
        kmeans_iters: int = 5,
        seed: int = 0,
    ):
        check_positive_int(num_atoms, "num_atoms")
        super().__init__(
            dim, num_atoms, patch_size=patch_size, dead_threshold=dead_threshold, usage_decay=usage_decay,
            kmeans_init=kmeans_init, kmeans_iters=kmeans_iters, seed=seed,
        )  # fmt: skip
        check_positive_int(sparsity, "sparsity")
        if sparsity > num_atoms:
            raise ValueError(f"sparsity must be at most num_atoms = {num_atoms}; got {sparsity}")
        check_choice(solver, "solver", SOLVERS)
        check_choice(update_rule, "update_rule", UPDATE_RULES)
        check_number(commitment, "commitment", minimum=0)
        check_number(dictionary_weight, "dictionary_weight", minimum=0)
        if value_bits is not None:
            check_value_bits(value_bits)
        check_forgetting(forgetting)
        check_positive_int(online_sweeps, "online_sweeps")

        self.num_atoms = num_atoms
        self.sparsity = sparsity
        self.token_dim = dim * patch_size * patch_size
        self.solver = solver
        self.update_rule = update_rule
        self.commitment = float(commitment)
        self.dictionary_weight = float(dictionary_weight)
        self.value_bits = value_bits
        self.forgetting = float(forgetting)
        self.online_sweeps = online_sweeps

        generator = torch.Generator().manual_seed(derive_seed(seed, _INIT_STREAM))
        initial = F.normalize(torch.randn(num_atoms, self.token_dim, generator=generator), dim=1)
        if update_rule == "gradient":
            self.dictionary = nn.Parameter(initial)
        else:
            self.register_buffer("dictionary", initial)
        if update_rule == "online":
            self.register_buffer("online_a", torch.zeros(num_atoms, num_atoms))
            self.register_buffer("online_b", torch.zeros(num_atoms, self.token_dim))

    @property
    def entries(self) -> torch.Tensor:
        return self.dictionary

    @property
    def bits_per_token(self) -> float:
        value_bits = self.value_bits or torch.finfo(self.dictionary.dtype).bits
        return support_bits(self.num_atoms, self.sparsity) + self.sparsity * value_bits

    def atoms(self) -> torch.Tensor:
        """The dictionary as used, (num_atoms, dim·patch_size²) with unit-norm rows."""
        return unit_rows(self.dictionary) if self.update_rule == "gradient" else self.dictionary

    def extra_repr(self) -> str:
        options = [
            f"num_atoms={self.num_atoms}", f"dim={self.dim}", f"sparsity={self.sparsity}",
            f"patch_size={self.patch_size}", f"solver={self.solver!r}", f"update_rule={self.update_rule!r}",
        ]  # fmt: skip
        if self.value_bits is not None:
            options.append(f"value_bits={self.value_bits}")
        if not bool(self.initialized):
            options.append("kmeans_init pending")
        return ", ".join(options)

    # ---------------------------------------------------------------- forward, encode, decode
    def _tokens(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, dim, H, W) → tokens (N, M) in the module's dtype (differentiable)."""
        return to_tokens(self.in_compute_dtype(latent), self.patch_size)

    def _code(self, tokens: torch.Tensor, atoms: torch.Tensor) -> tuple[SparseCode, SparseCode]:
        """The sparse code of ``tokens`` and the code the decoder sees (its values quantised or not)."""
        code = sparse.code(tokens.detach(), atoms.detach(), sparsity=self.sparsity, solver=self.solver)
        return code, (code if self.value_bits is None else quantize_values(code, self.value_bits))

    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        with torch.autocast(device_type=latent.device.type, enabled=False):
            x = self._tokens(latent)
            self._initialize_once(x)
            atoms = self.atoms()
            code, coded = self._code(x, atoms)
            # the code is our own coder's, of these atoms: no need for reconstruct's validation of it
            recon = combine_atoms(coded.indices, coded.values, atoms)  # gradient reaches a trained dictionary
            commitment = F.mse_loss(x, recon.detach())
            if self.update_rule == "gradient" and recon.requires_grad:
                loss = self.dictionary_weight * F.mse_loss(recon, x.detach()) + self.commitment * commitment
            elif self.update_rule == "gradient":
                loss = (self.dictionary_weight + self.commitment) * commitment  # same value, no graph
            else:
                loss = self.commitment * commitment
            tokens_out = recon.detach() + (x - x.detach()) if x.requires_grad else recon.detach()
            quantized = from_tokens(tokens_out, self.patch_size, latent.shape)
            quantized = quantized.to(latent.dtype, memory_format=torch.contiguous_format, copy=True)

            counts = torch.bincount(code.indices[code.indices >= 0], minlength=self.num_atoms).to(x.dtype)
            if self.training:
                # the dictionary rules learn from every forward of the step, the gradient rule's revival
                # from the latest
                every = self.update_rule != "gradient"
                self._stash(counts, x.shape[0], batch=(x.detach(), code), keep_every_batch=every)
            stats = {
                **self.entry_stats(counts, x.shape[0]),
                "quantization_error": commitment.detach(),
                "bits_per_token": torch.tensor(self.bits_per_token, dtype=x.dtype, device=x.device),
            }
        codes = PatchCode(coded, tuple(latent.shape), self.patch_size)
        return BottleneckOutput(quantized=quantized, loss=loss, codes=codes, stats=stats)

    def _encode(self, latent: torch.Tensor) -> PatchCode:
        _, coded = self._code(self._tokens(latent), self.atoms())
        return PatchCode(coded, tuple(latent.shape), self.patch_size)

    def check_codes(self, codes, name: str = "codes") -> None:
        """``codes`` must be a :class:`~laserlab.bottlenecks.patches.PatchCode` of a (B, dim, H, W) latent
        with this ``patch_size``, whose ``sparse`` code has (B·h·w, sparsity) long ``indices`` in
        [-1, num_atoms) and finite float ``values`` of the same shape (0 in empty slots) — a
        :class:`~laserlab.sparse.rate.QuantizedCode` of ``value_bits`` bits, its values those of its
        symbols, exactly when this bottleneck quantises its coefficients."""
        if not isinstance(codes, PatchCode):
            raise TypeError(
                f"{name} must be a PatchCode (from encode or forward); got {type(codes).__name__}"
            )
        if (
            codes.patch_size != self.patch_size
            or len(codes.shape) != 4
            or codes.shape[1] != self.dim
            or not all(isinstance(size, int) and size > 0 for size in codes.shape)
        ):
            raise ValueError(
                f"{name} must code a latent (B, dim = {self.dim}, H, W) with patch_size = {self.patch_size}; "
                f"got shape {codes.shape}, patch_size {codes.patch_size}"
            )
        code = codes.sparse
        if not isinstance(code, SparseCode):
            raise TypeError(f"{name}.sparse must be a SparseCode; got {type(code).__name__}")
        if self.value_bits is not None and not isinstance(code, QuantizedCode):
            raise TypeError(
                f"{name}.sparse must be a QuantizedCode of {self.value_bits} bits; got a SparseCode"
            )
        if self.value_bits is None and isinstance(code, QuantizedCode):
            raise TypeError(f"{name}.sparse must be an unquantised SparseCode (value_bits is None)")
        if isinstance(code, QuantizedCode) and code.bits != self.value_bits:
            raise ValueError(f"{name}.sparse must be quantised to {self.value_bits} bits; got {code.bits}")
        batch, rows, cols = codes.grid
        expected = (batch * rows * cols, self.sparsity)
        if not isinstance(code.indices, torch.Tensor) or code.indices.dtype != torch.long:
            raise TypeError(f"{name}.sparse.indices must be a torch.long tensor {expected}")
        if not isinstance(code.values, torch.Tensor) or not code.values.is_floating_point():
            raise TypeError(f"{name}.sparse.values must be a float tensor {expected}")
        if tuple(code.indices.shape) != expected or tuple(code.values.shape) != expected:
            raise ValueError(
                f"{name}.sparse.indices and values must have shape (B·h·w, S) = {expected}; got "
                f"{tuple(code.indices.shape)} and {tuple(code.values.shape)}"
            )
        if int(code.indices.min()) < -1 or int(code.indices.max()) >= self.num_atoms:
            raise ValueError(f"{name}.sparse.indices must lie in [-1, num_atoms) = [-1, {self.num_atoms})")
        if bool((code.values[code.indices < 0] != 0).any()):
            raise ValueError(f"{name}.sparse.values must be 0 in empty slots (index -1)")
        check_finite(code.values, f"{name}.sparse.values")
        if isinstance(code, QuantizedCode):
            # the symbols are what was transmitted: the values must be theirs
            expected_values = dequantize(
                code.indices, code.symbols, max_abs=code.max_abs, bits=code.bits
            ).values
            if not torch.equal(code.values, expected_values):
                raise ValueError(
                    f"{name}.sparse.values must be the dequantised symbols (build it with "
                    "laserlab.sparse.rate.dequantize)"
                )

    def _decode(self, codes: PatchCode) -> torch.Tensor:
        return codes.reconstruct(self.atoms())

    # ---------------------------------------------------------------- non-gradient updates
    def _initialize(self, tokens: torch.Tensor) -> None:
        result = self.shared_kmeans(tokens, stream=_KMEANS_STREAM, start="kmeans++", normalize=True)
        self.dictionary[: result.centroids.shape[0]] = result.centroids

    def _learn(
        self, pending: PendingUpdate, counts: torch.Tensor, sums: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the rule to the step's tokens and codes; return the tokens and their residual norms."""
        dtype = self.dictionary.dtype
        tokens = torch.cat([batch_tokens for batch_tokens, _ in pending.batches]).to(dtype)
        code = _concatenate([batch_code for _, batch_code in pending.batches])
        if self.update_rule == "gradient":
            self.dictionary.copy_(unit_rows(self.dictionary))
            return tokens, code.residual_norm.to(dtype)
        tokens = distributed.all_gather_rows(tokens)
        code = _gather(code)
        if self.update_rule == "online":
            state = OnlineState(
                self.dictionary, self.online_a, self.online_b, self.dictionary.new_zeros(self.num_atoms)
            )
            state = online_update(
                state,
                tokens,
                code,
                forgetting=self.forgetting,
                sweeps=self.online_sweeps,
                replace_unused=False,
            )
            self.online_a.copy_(state.A)
            self.online_b.copy_(state.B)
            self.dictionary.copy_(state.dictionary)
            distributed.broadcast_(self.dictionary, self.online_a, self.online_b)
            return tokens, code.residual_norm.to(dtype)
        result = ksvd_update(tokens, self.dictionary, code, approximate=self.update_rule == "approx_ksvd")
        self.dictionary.copy_(result.dictionary)
        distributed.broadcast_(self.dictionary)
        return tokens, result.code.residual_norm.to(dtype)

    def _revive(self, dead: torch.Tensor, candidates: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Dead atoms become the worst-represented tokens of the step, normalised."""
        tokens, residual_norm = candidates
        if self.update_rule == "gradient":
            # each rank offers its worst-represented tokens; the gathered rows are the same on every rank
            worst = torch.argsort(residual_norm, descending=True, stable=True)[: int(dead.sum())]
            tokens = distributed.all_gather_rows(tokens[worst])
            residual_norm = distributed.all_gather_rows(residual_norm[worst])
        atoms = self.atoms().detach()
        fresh = replace_unused_atoms(atoms, tokens, residual_norm, dead)
        replaced = dead & (fresh != atoms).any(1)
        self.dictionary.copy_(fresh)
        if self.update_rule == "online":
            keep = (~replaced).to(self.online_a.dtype)
            self.online_a.mul_(keep[:, None] * keep[None, :])
            self.online_b.mul_(keep[:, None])
        return replaced


def _concatenate(codes: list[SparseCode]) -> SparseCode:
    if len(codes) == 1:
        return codes[0]
    return SparseCode(
        *(torch.cat([getattr(c, name) for c in codes]) for name in ("indices", "values", "residual_norm"))
    )


def _gather(code: SparseCode) -> SparseCode:
    """Every rank's code rows, in rank order (the identity without ``torch.distributed``)."""
    return SparseCode(
        *(distributed.all_gather_rows(getattr(code, name)) for name in ("indices", "values", "residual_norm"))
    )
