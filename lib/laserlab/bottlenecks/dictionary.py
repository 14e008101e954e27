"""Sparse-dictionary bottleneck: each patch token of the latent becomes an S-sparse code over K learned atoms.

Tokens are the ``patch_size``×``patch_size`` patches of the latent (B, dim, H, W) as vectors of length
M = dim·p², in the layout and order of :mod:`laserlab.bottlenecks.patches` (channel-major vectors,
batch-major tokens; sizes that p does not divide are replicate-padded and the padding is cropped after
decoding, an exact inverse). Coding runs :func:`laserlab.sparse.omp` (exact Batch-OMP) or
:func:`laserlab.sparse.matching_pursuit` under ``no_grad``: support and coefficients are constants, the
reconstruction D_I·γ is differentiable in the dictionary.

Dictionary learning rules (``update``):

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

Dead atoms: the tracked usage of an atom is the bias-corrected EMA (decay ``usage_decay``) of the fraction of
tokens whose code uses it, per update step, over all ranks. Atoms below ``dead_atom_threshold`` are replaced
by the worst-represented tokens of the step (largest residual energy, gathered from all ranks), normalised
(Aharon et al.; ksvdbox) — with the gradient rule the optimiser state of those rows is reset when the
optimiser is passed to ``update``; with the online rule their rows of A and B are cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_nonnegative_int, check_number, check_positive_int
from ..sparse import SparseCode, kmeans_init, ksvd_update, matching_pursuit, omp, online_update
from ..sparse.atoms import replace_unused_atoms
from ..sparse.omp import combine_atoms
from ..sparse.online import OnlineState
from ..sparse.rate import quantize_values, support_bits
from . import distributed
from .base import Bottleneck, BottleneckOutput, reset_optimizer_rows
from .patches import from_tokens, to_tokens, token_grid
from .vq import _seed, perplexity, usage

SOLVERS = ("omp", "mp")
UPDATES = ("gradient", "online", "ksvd", "approx_ksvd")

# distinct streams of the module's seed
_INIT_STREAM, _KMEANS_STREAM = 1, 2


@dataclass
class DictionaryCode:
    """The sparse code of a latent, one S-slot code per patch token.

    - ``indices`` (N, S) long: atoms per token in selection order, -1 in empty slots (OMP stops early when a
      token is already exactly represented, e.g. after M atoms).
    - ``values`` (N, S): coefficients as the decoder uses them — dequantised when the bottleneck has
      ``value_bits`` — 0 in empty slots.
    - ``latent_shape`` (B, dim, H, W): the coded latent's shape; tokens are in batch-major patch order, so
      per-token quantities reshape to :attr:`grid` (B, h, w) = (B, ⌈H/p⌉, ⌈W/p⌉).
    - ``patch_size``: p.
    """

    indices: torch.Tensor
    values: torch.Tensor
    latent_shape: tuple[int, int, int, int]
    patch_size: int

    @property
    def grid(self) -> tuple[int, int, int]:
        return token_grid(self.latent_shape, self.patch_size)

    @property
    def n_active(self) -> torch.Tensor:
        """Atoms used per token, (B, h, w) long."""
        return (self.indices >= 0).sum(1).view(self.grid)


@dataclass
class _Pending:
    """What training forwards stash until :meth:`DictionaryBottleneck.update`."""

    counts: torch.Tensor  # (K,) tokens using each atom, summed over forwards
    tokens_seen: int
    tokens: list[torch.Tensor]  # (N_i, M) per forward (all forwards for online/K-SVD; the latest otherwise)
    codes: list[SparseCode]  # the unquantised codes of those tokens


class DictionaryBottleneck(Bottleneck):
    """S-sparse coding of the patch tokens of a latent (B, dim, H, W) over ``num_atoms`` unit-norm atoms.

    Each token x (length M = dim·patch_size²) is coded as x̂ = Σ γ_s d_{i_s} with at most ``sparsity`` atoms
    by ``solver`` ("omp": exact Batch-OMP; "mp": matching pursuit, which never re-fits). With ``value_bits``
    the coefficients go through a uniform ``value_bits``-bit quantiser (:func:`laserlab.sparse.rate.
    quantize_values`, range = the batch's largest |γ|, sent once per batch) and the decoder sees the
    dequantised values. ``quantized`` has the value x̂ (cropped back to the latent) and the straight-through
    gradient: the identity to the latent.

    Loss (means over tokens and token dimensions, sg = stop-gradient): with ``update="gradient"``
    ``dictionary_weight·‖sg(x) − x̂‖² + commitment·‖x − sg(x̂)‖²``; with the other rules only
    ``commitment·‖x − sg(x̂)‖²`` (the dictionary is a buffer the optimiser never sees).

    Options:

    - ``update`` — "gradient", "online", "ksvd" or "approx_ksvd" (see the module docstring).
    - ``forgetting``, ``online_sweeps`` — the online rule's forgetting factor β in (0, 1] and
      block-coordinate-descent passes per update.
    - ``dead_atom_threshold`` — tracked usage frequency (fraction of tokens per step) below which an atom is
      replaced in ``update``; 0 turns replacement off. ``usage_decay`` — decay of the usage EMA.
    - ``kmeans_init`` — the first training-mode forward sets the atoms by k-means++ (``kmeans_iters`` Lloyd
      steps, then normalised) on that batch's tokens from all ranks; with fewer tokens than atoms only the
      first N atoms are set and the others keep their random initial value. Otherwise the atoms start as
      normalised Gaussian vectors drawn from ``seed``.

    Statistics (``stats``, this rank's batch): ``sparsity`` (mean atoms per token), ``usage`` (fraction of
    atoms used), ``perplexity`` (of the atom-usage histogram over all slots), ``dead_atoms`` (tracked usage
    below ``dead_atom_threshold``; atoms unused in this batch before the first update or when replacement
    is off), ``quantization_error`` (mean ‖x − x̂‖² per token dimension) and ``bits_per_token``.

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
        update: str = "gradient",
        commitment: float = 0.25,
        dictionary_weight: float = 1.0,
        value_bits: int | None = None,
        dead_atom_threshold: float = 1e-3,
        usage_decay: float = 0.99,
        forgetting: float = 0.95,
        online_sweeps: int = 1,
        kmeans_init: bool = False,
        kmeans_iters: int = 5,
        seed: int = 0,
    ):
        super().__init__(dim)
        check_positive_int(num_atoms, "num_atoms")
        check_positive_int(sparsity, "sparsity")
        if sparsity > num_atoms:
            raise ValueError(f"sparsity must be at most num_atoms = {num_atoms}; got {sparsity}")
        check_positive_int(patch_size, "patch_size")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}; got {update!r}")
        check_number(commitment, "commitment", minimum=0)
        check_number(dictionary_weight, "dictionary_weight", minimum=0)
        if value_bits is not None:
            check_positive_int(value_bits, "value_bits")
            if value_bits > 24:
                raise ValueError(f"value_bits must be None or an int in [1, 24]; got {value_bits}")
        check_number(dead_atom_threshold, "dead_atom_threshold", minimum=0, maximum=1)
        check_number(usage_decay, "usage_decay", minimum=0, maximum=1, exclusive=True)
        check_number(forgetting, "forgetting", minimum=0, maximum=1)
        if forgetting == 0:
            raise ValueError(f"forgetting must be a finite number in (0, 1]; got {forgetting!r}")
        check_positive_int(online_sweeps, "online_sweeps")
        if not isinstance(kmeans_init, bool):
            raise TypeError(f"kmeans_init must be a bool; got {kmeans_init!r}")
        check_nonnegative_int(kmeans_iters, "kmeans_iters")
        check_nonnegative_int(seed, "seed")

        self.num_atoms = num_atoms
        self.sparsity = sparsity
        self.patch_size = patch_size
        self.token_dim = dim * patch_size * patch_size
        self.solver = solver
        self.rule = update
        self.commitment = float(commitment)
        self.dictionary_weight = float(dictionary_weight)
        self.value_bits = value_bits
        self.dead_atom_threshold = float(dead_atom_threshold)
        self.usage_decay = float(usage_decay)
        self.forgetting = float(forgetting)
        self.online_sweeps = online_sweeps
        self.kmeans_iters = kmeans_iters
        self.seed = seed

        generator = torch.Generator().manual_seed(_seed(seed, _INIT_STREAM))
        initial = F.normalize(torch.randn(num_atoms, self.token_dim, generator=generator), dim=1)
        if update == "gradient":
            self.dictionary = nn.Parameter(initial)
        else:
            self.register_buffer("dictionary", initial)
        if update == "online":
            self.register_buffer("online_a", torch.zeros(num_atoms, num_atoms))
            self.register_buffer("online_b", torch.zeros(num_atoms, self.token_dim))
        self.register_buffer("atom_usage_ema", torch.zeros(num_atoms))
        self.register_buffer("usage_weight", torch.zeros(()))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("update_steps", torch.zeros((), dtype=torch.long))
        self._pending: _Pending | None = None

    @property
    def bits_per_token(self) -> float:
        value_bits = self.value_bits or torch.finfo(self.dictionary.dtype).bits
        return support_bits(self.num_atoms, self.sparsity) + self.sparsity * value_bits

    @property
    def needs_update(self) -> bool:
        return True  # usage tracking always; the dictionary rule and dead-atom replacement

    def atoms(self) -> torch.Tensor:
        """The dictionary as used, (num_atoms, dim·patch_size²) with unit-norm rows."""
        return F.normalize(self.dictionary, dim=1) if self.rule == "gradient" else self.dictionary

    def atom_usage(self) -> torch.Tensor:
        """Tracked usage per atom (num_atoms,): bias-corrected EMA of the fraction of tokens using it."""
        return self.atom_usage_ema / self.usage_weight.clamp_min(torch.finfo(self.usage_weight.dtype).tiny)

    def extra_repr(self) -> str:
        options = [
            f"num_atoms={self.num_atoms}", f"dim={self.dim}", f"sparsity={self.sparsity}",
            f"patch_size={self.patch_size}", f"solver={self.solver!r}", f"update={self.rule!r}",
        ]  # fmt: skip
        if self.value_bits is not None:
            options.append(f"value_bits={self.value_bits}")
        if not bool(self.initialized):
            options.append("kmeans_init pending")
        return ", ".join(options)

    # ---------------------------------------------------------------- coding
    def _tokens(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, dim, H, W) → tokens (N, M) in the module's dtype (differentiable)."""
        dtype = self.dictionary.dtype
        if torch.finfo(latent.dtype).bits > torch.finfo(dtype).bits:
            raise TypeError(
                f"latent is {latent.dtype} but the DictionaryBottleneck computes in {dtype}; "
                f"convert the bottleneck with .to({latent.dtype}) or pass a {dtype} latent"
            )
        return to_tokens(latent.to(dtype), self.patch_size)

    def _code(self, tokens: torch.Tensor, atoms: torch.Tensor) -> tuple[SparseCode, torch.Tensor]:
        """The sparse code of ``tokens`` and the coefficient values the decoder sees (quantised or not)."""
        coder = omp if self.solver == "omp" else matching_pursuit
        code = coder(tokens.detach(), atoms.detach(), sparsity=self.sparsity)
        if self.value_bits is None:
            return code, code.values
        return code, quantize_values(code, self.value_bits).values

    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        with torch.autocast(device_type=latent.device.type, enabled=False):
            x = self._tokens(latent)
            if self.training and not bool(self.initialized):
                self._kmeans_initialize(x.detach())
            atoms = self.atoms()
            code, values = self._code(x, atoms)
            recon = combine_atoms(code.indices, values, atoms)  # gradient reaches a trained dictionary
            commitment = F.mse_loss(x, recon.detach())
            if self.rule == "gradient" and recon.requires_grad:
                loss = self.dictionary_weight * F.mse_loss(recon, x.detach()) + self.commitment * commitment
            elif self.rule == "gradient":
                loss = (self.dictionary_weight + self.commitment) * commitment  # same value, no graph
            else:
                loss = self.commitment * commitment
            tokens_out = recon.detach() + (x - x.detach()) if x.requires_grad else recon.detach()
            quantized = from_tokens(tokens_out, self.patch_size, latent.shape)
            quantized = quantized.to(latent.dtype, memory_format=torch.contiguous_format, copy=True)

            valid = code.indices >= 0
            counts = torch.bincount(code.indices[valid], minlength=self.num_atoms).to(x.dtype)
            if self.training:
                self._stash(counts, x.detach(), code)
            stats = {
                "sparsity": valid.sum(1).to(x.dtype).mean(),
                "usage": usage(counts),
                "perplexity": perplexity(counts),
                "dead_atoms": self._dead_atoms(counts),
                "quantization_error": commitment.detach(),
                "bits_per_token": torch.tensor(self.bits_per_token, dtype=x.dtype, device=x.device),
            }
        codes = DictionaryCode(code.indices, values.detach(), tuple(latent.shape), self.patch_size)
        return BottleneckOutput(quantized=quantized, loss=loss, codes=codes, stats=stats)

    def _dead_atoms(self, batch_counts: torch.Tensor) -> torch.Tensor:
        unused_now = (batch_counts == 0).sum()
        if self.dead_atom_threshold == 0:
            return unused_now.to(batch_counts.dtype)
        tracked = (self.atom_usage() < self.dead_atom_threshold).sum()
        return torch.where(self.usage_weight > 0, tracked, unused_now).to(batch_counts.dtype)

    def _stash(self, counts: torch.Tensor, tokens: torch.Tensor, code: SparseCode) -> None:
        keep_all = self.rule != "gradient"  # the dictionary rules learn from every forward of the step
        if self._pending is None:
            self._pending = _Pending(counts.clone(), tokens.shape[0], [tokens], [code])
            return
        self._pending.counts += counts
        self._pending.tokens_seen += tokens.shape[0]
        if keep_all:
            self._pending.tokens.append(tokens)
            self._pending.codes.append(code)
        else:
            self._pending.tokens, self._pending.codes = [tokens], [code]

    @torch.no_grad()
    def encode(self, latent: torch.Tensor) -> DictionaryCode:
        """The sparse code of a latent (B, dim, H, W), as the forward makes it; changes no state."""
        self.check_latent(latent)
        with torch.autocast(device_type=latent.device.type, enabled=False):
            code, values = self._code(self._tokens(latent), self.atoms())
        return DictionaryCode(code.indices, values, tuple(latent.shape), self.patch_size)

    def decode(self, code: DictionaryCode) -> torch.Tensor:
        """The quantised latent (B, dim, H, W) in the module's dtype for a :class:`DictionaryCode`."""
        if not isinstance(code, DictionaryCode):
            raise TypeError(
                f"code must be a DictionaryCode (from encode or forward); got {type(code).__name__}"
            )
        if code.patch_size != self.patch_size or code.latent_shape[1] != self.dim:
            raise ValueError(
                f"code must come from a bottleneck with dim = {self.dim} and patch_size = {self.patch_size}; "
                f"got latent_shape {code.latent_shape}, patch_size {code.patch_size}"
            )
        batch, rows, cols = code.grid
        if (
            tuple(code.indices.shape) != (batch * rows * cols, self.sparsity)
            or code.indices.dtype != torch.long
        ):
            raise ValueError(
                f"code.indices must be a long tensor of shape (B·h·w, S) = ({batch * rows * cols}, "
                f"{self.sparsity}); got {code.indices.dtype} {tuple(code.indices.shape)}"
            )
        if code.indices.numel() and (
            int(code.indices.min()) < -1 or int(code.indices.max()) >= self.num_atoms
        ):
            raise ValueError(f"code.indices must lie in [-1, num_atoms) = [-1, {self.num_atoms})")
        atoms = self.atoms()
        tokens = combine_atoms(code.indices, code.values.to(atoms.dtype), atoms)
        return from_tokens(tokens, self.patch_size, code.latent_shape)

    # ---------------------------------------------------------------- non-gradient updates
    def _kmeans_initialize(self, tokens: torch.Tensor) -> None:
        with torch.no_grad():
            data = distributed.all_gather_rows(tokens)
            generator = distributed.shared_generator(_seed(self.seed, _KMEANS_STREAM), device=data.device)
            count = min(self.num_atoms, data.shape[0])
            centres = kmeans_init(
                data, count, iterations=self.kmeans_iters, normalize=True, generator=generator
            )
            distributed.broadcast_(centres)  # scatter-adds may round differently per GPU
            self.dictionary[:count] = centres
            self.initialized.fill_(True)

    def _apply_updates(self, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor]:
        pending, self._pending = self._pending, None
        if pending is None:
            return {}
        dtype = self.dictionary.dtype
        counts = pending.counts.to(dtype)
        seen = counts.new_tensor(float(pending.tokens_seen))
        distributed.all_reduce_sum_(counts, seen)
        self.atom_usage_ema.mul_(self.usage_decay).add_(counts / seen, alpha=1 - self.usage_decay)
        self.usage_weight.mul_(self.usage_decay).add_(1 - self.usage_decay)

        tokens = torch.cat(pending.tokens).to(dtype)
        code = _concatenate(pending.codes)
        if self.rule == "gradient":
            self.dictionary.copy_(F.normalize(self.dictionary, dim=1))
            residual_norm = code.residual_norm
        else:
            tokens = distributed.all_gather_rows(tokens)
            code = _gather(code)
            residual_norm = self._learn(tokens, code)
            distributed.broadcast_(*self._learned_state())
        replaced = self._replace_dead_atoms(tokens, residual_norm.to(dtype), optimizer)
        self.update_steps += 1
        return {"replaced_atoms": torch.tensor(float(replaced))}

    def _learn(self, tokens: torch.Tensor, code: SparseCode) -> torch.Tensor:
        """Apply the online or K-SVD rule to the step's gathered tokens; returns their residual norms."""
        dictionary = self.dictionary
        if self.rule == "online":
            state = OnlineState(
                dictionary, self.online_a, self.online_b, dictionary.new_zeros(self.num_atoms)
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
            return code.residual_norm
        result = ksvd_update(tokens, dictionary, code, approximate=self.rule == "approx_ksvd")
        self.dictionary.copy_(result.dictionary)
        return result.code.residual_norm

    def _learned_state(self) -> tuple[torch.Tensor, ...]:
        if self.rule == "online":
            return self.dictionary, self.online_a, self.online_b
        return (self.dictionary,)

    def _replace_dead_atoms(
        self, tokens: torch.Tensor, residual_norm: torch.Tensor, optimizer: torch.optim.Optimizer | None
    ) -> int:
        if self.dead_atom_threshold == 0:
            return 0
        # usage is all-reduced, so every rank agrees on `dead`
        dead = self.atom_usage() < self.dead_atom_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        if self.rule == "gradient":
            # each rank offers its worst-represented tokens; the gathered rows are the same on every rank
            worst = torch.argsort(residual_norm, descending=True, stable=True)[:n_dead]
            tokens = distributed.all_gather_rows(tokens[worst])
            residual_norm = distributed.all_gather_rows(residual_norm[worst])
        fresh = replace_unused_atoms(self.atoms().detach(), tokens, residual_norm, dead)
        replaced = dead & (fresh != self.atoms().detach()).any(1)
        self.dictionary.copy_(fresh)
        # a revived atom restarts at the threshold, so it has a while to prove itself
        self.atom_usage_ema[replaced] = self.dead_atom_threshold * self.usage_weight
        if self.rule == "online":
            keep = (~replaced).to(self.online_a.dtype)
            self.online_a.mul_(keep[:, None] * keep[None, :])
            self.online_b.mul_(keep[:, None])
        if self.rule == "gradient" and optimizer is not None:
            reset_optimizer_rows(optimizer, self.dictionary, replaced)
        return int(replaced.sum())


def _concatenate(codes: list[SparseCode]) -> SparseCode:
    if len(codes) == 1:
        return codes[0]
    return SparseCode(
        *(torch.cat([getattr(c, name) for c in codes]) for name in SparseCode.__dataclass_fields__)
    )


def _gather(code: SparseCode) -> SparseCode:
    """Every rank's code rows, in rank order (the identity without ``torch.distributed``)."""
    return SparseCode(
        *(distributed.all_gather_rows(getattr(code, name)) for name in SparseCode.__dataclass_fields__)
    )
