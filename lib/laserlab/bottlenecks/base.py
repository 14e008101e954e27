"""The bottleneck contract and the machinery every bottleneck shares (VQ, dictionary, and any new one).

A bottleneck maps an encoder latent (B, dim, H, W) to a :class:`BottleneckOutput`: the quantised latent
(same shape, straight-through estimator applied, so the decoder's gradient reaches the encoder), its own
loss, the discrete codes and a dict of scalar statistics.

**Codes.** Every bottleneck has the pair :meth:`Bottleneck.encode` (latent → codes) and
:meth:`Bottleneck.decode` (codes → latent): ``encode`` changes no state and is deterministic,
``decode`` validates what it is given, and in evaluation mode ``decode(encode(x))`` equals
``forward(x).quantized`` and ``encode(x)`` equals ``forward(x).codes``. What the codes are is each
bottleneck's (codeword indices for VQ, a :class:`~laserlab.bottlenecks.patches.PatchCode` for a
dictionary); their alphabet is the bottleneck's ``num_entries`` K entries (codewords or atoms).

**Non-gradient updates happen after the optimiser step, never inside ``forward``.** ``forward`` also runs
in validation and in Lightning's sanity check, under autocast, and before the optimiser has used the
gradients of the very batch it saw; updating a codebook there mixes states across the step and lets
validation data into training state. So a training-mode ``forward`` only *stashes* what the update needs
(a :class:`PendingUpdate`: per-entry counts and sums, candidate vectors) and :meth:`Bottleneck.update` —
called once after each ``optimizer.step()``, through :func:`update_bottlenecks` — applies it in the
bottleneck's own precision (float32 or float64), under ``no_grad``, outside autocast, synchronised across
``torch.distributed`` ranks. In Lightning the place is an ``optimizer_step`` override, after
``super().optimizer_step(...)``: it runs once per real step, also with ``accumulate_grad_batches > 1``
(``on_train_batch_end`` would also run after micro-batches). Statistics from several forwards (gradient
accumulation) are summed and applied by the one ``update`` after the step. Evaluation-mode forwards stash
nothing.

EMA codebooks fit this directly: the EMA *is* a running sufficient statistic, so forward accumulates the
batch's per-code counts and sums, and ``update`` all-reduces them, folds them into the EMA buffers and
recomputes the codewords — the codebook is a buffer the optimiser never sees (no double update). The one
exception is data-driven initialisation (k-means on the first batch): the entries must exist before the
first batch can be quantised, so it happens at the first training-mode forward, once, under ``no_grad``.

**Usage and dead entries, one meaning for every bottleneck.** A token *uses* an entry when its code
contains it (VQ: it is assigned to that codeword; dictionary: its sparse code includes that atom). The
tracked usage of an entry (:meth:`Bottleneck.entry_usage`) is the bias-corrected EMA (decay
``usage_decay``) over update steps of the fraction of the step's tokens, summed over ranks, that use it —
independent of the batch size and of the number of ranks. An entry is *dead* when its tracked usage is
below ``dead_threshold``; ``update`` then replaces it (how is the bottleneck's) and restarts its usage at
the threshold. ``dead_threshold=0`` turns replacement off.
"""

from __future__ import annotations

import abc
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import (
    check_bool,
    check_finite,
    check_float_tensor,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from ..sparse.analysis import perplexity, used_fraction
from ..sparse.kmeans import KMeansResult, kmeans
from . import distributed


def derive_seed(*entropy: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers (numpy's ``SeedSequence``), the same on every
    rank: e.g. ``derive_seed(seed, stream, step)`` gives each use of a module's seed its own stream."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0]) >> 1


@dataclass
class BottleneckOutput:
    """What every bottleneck's ``forward`` returns.

    - ``quantized`` — the quantised latent, same shape and dtype as the input (B, dim, H, W), with the
      straight-through (or rotation-trick) estimator applied: its value is the reconstruction from the codes,
      its gradient flows to the input latent.
    - ``loss`` — scalar tensor to add to the training objective (commitment, codebook or dictionary terms).
    - ``codes`` — the discrete representation, what :meth:`Bottleneck.encode` returns (detached):
      :class:`~laserlab.bottlenecks.vq.VectorQuantizer`: codeword indices, a long tensor (B, H, W);
      :class:`~laserlab.bottlenecks.dictionary.DictionaryBottleneck`: a
      :class:`~laserlab.bottlenecks.patches.PatchCode`.
    - ``stats`` — named detached scalar tensors for logging, the same keys for every bottleneck:
      ``perplexity``, ``usage``, ``sparsity`` and ``dead_entries`` of this batch's codes (see
      :meth:`Bottleneck.entry_stats`), ``quantization_error`` (mean squared error, per dimension, of the
      token vectors the codes stand for; VQ: in its code space) and ``bits_per_token``.
    """

    quantized: torch.Tensor
    loss: torch.Tensor
    codes: Any
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class PendingUpdate:
    """What the training forwards since the last :meth:`Bottleneck.update` stashed for it.

    ``counts`` (num_entries,): tokens using each entry, summed over forwards; ``tokens``: tokens seen,
    summed; ``sums``: a per-entry accumulator summed over forwards (the EMA codebook's sums), or None;
    ``batches``: per-forward data the update needs (candidate vectors, tokens and codes) — every
    forward's or only the latest one's, as the bottleneck stashed them.
    """

    counts: torch.Tensor
    tokens: int
    sums: torch.Tensor | None = None
    batches: list = field(default_factory=list)


class Bottleneck(nn.Module, abc.ABC):
    """Base of the bottleneck modules: validation, the ``forward`` and ``encode``/``decode`` contract, and
    the shared non-gradient machinery (usage tracking, dead-entry replacement, k-means initialisation,
    seeding, the update hook).

    ``dim``: channels of the latent. ``num_entries``: K, the codewords or atoms the codes index.
    ``patch_size``: a token is a ``patch_size``×``patch_size`` patch of latent positions (1 for VQ).
    ``dead_threshold``, ``usage_decay``: dead entries (module docstring); a number in [0, 1] and a decay in
    (0, 1). ``kmeans_init``, ``kmeans_iters``: the first training-mode forward sets the entries by k-means
    (that many Lloyd steps) on that batch's tokens from all ranks (see each bottleneck for the variant);
    until then (e.g. a validation sanity check) the random initial entries are used. ``seed``: every
    random draw of the module, identical on every rank.

    Subclasses implement :attr:`entries`, :attr:`bits_per_token`, :meth:`_forward`, :meth:`_encode`,
    :meth:`_decode`, :meth:`check_codes`, and for their updates :meth:`_initialize`, :meth:`_learn` and
    :meth:`_revive`.
    """

    #: training-mode forwards without :meth:`update` after which a bottleneck that needs updates warns
    FORWARDS_BEFORE_WARNING = 100

    def __init__(
        self,
        dim: int,
        num_entries: int,
        *,
        patch_size: int = 1,
        dead_threshold: float = 0.0,
        usage_decay: float = 0.99,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        seed: int = 0,
    ):
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(num_entries, "num_entries")
        check_positive_int(patch_size, "patch_size")
        check_number(dead_threshold, "dead_threshold", minimum=0, maximum=1)
        check_number(usage_decay, "usage_decay", minimum=0, maximum=1, exclusive=True)
        check_bool(kmeans_init, "kmeans_init")
        check_nonnegative_int(kmeans_iters, "kmeans_iters")
        check_nonnegative_int(seed, "seed")
        self.dim = dim
        self.num_entries = num_entries
        self.patch_size = patch_size
        self.dead_threshold = float(dead_threshold)
        self.usage_decay = float(usage_decay)
        self.kmeans_iters = kmeans_iters
        self.seed = seed
        # EMA of the fraction of tokens using each entry, and the EMA of 1 that bias-corrects it
        self.register_buffer("usage_ema", torch.zeros(num_entries))
        self.register_buffer("usage_weight", torch.zeros(()))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("update_steps", torch.zeros((), dtype=torch.long))
        self._pending: PendingUpdate | None = None
        self._forwards_since_update = 0

    # ---------------------------------------------------------------- what a subclass defines
    @property
    @abc.abstractmethod
    def entries(self) -> torch.Tensor:
        """The stored entries (num_entries, …): a parameter the optimiser trains or a buffer. Its dtype is
        the dtype the bottleneck computes in."""

    @property
    @abc.abstractmethod
    def bits_per_token(self) -> float:
        """Bits needed to transmit one token's code (one p×p patch of the latent's (dim,) vectors)."""

    @property
    def needs_update(self) -> bool:
        """Whether :meth:`update` has work to do (usage tracking, EMA, dictionary rules, dead entries)."""
        return True

    @abc.abstractmethod
    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        """Quantise a validated latent (B, dim, H, W)."""

    @abc.abstractmethod
    def _encode(self, latent: torch.Tensor) -> Any:
        """The codes of a validated latent (under ``no_grad``, autocast off)."""

    @abc.abstractmethod
    def _decode(self, codes: Any) -> torch.Tensor:
        """The latent of validated codes (autocast off)."""

    @abc.abstractmethod
    def check_codes(self, codes: Any, name: str = "codes") -> None:
        """``codes`` must be what :meth:`encode` returns for this bottleneck (type, shape, range)."""

    def _initialize(self, tokens: torch.Tensor) -> None:
        """Set the entries from the first training batch's ``tokens`` (``kmeans_init``; under ``no_grad``)."""
        raise NotImplementedError(f"{type(self).__name__} has no k-means initialisation")

    def _learn(self, pending: PendingUpdate, counts: torch.Tensor, sums: torch.Tensor | None) -> Any:
        """Apply the step's non-gradient learning rule (EMA codebook, dictionary update) from ``pending``
        with ``counts`` and ``sums`` summed over ranks; return what :meth:`_revive` needs."""
        del pending, counts, sums

    def _revive(self, dead: torch.Tensor, candidates: Any) -> torch.Tensor:
        """Rewrite the ``dead`` (num_entries,) bool entries from ``candidates`` (what :meth:`_learn`
        returned); return the (num_entries,) bool mask of the rows actually rewritten."""
        raise NotImplementedError(f"{type(self).__name__} cannot replace dead entries")

    # ---------------------------------------------------------------- forward, encode, decode
    def check_latent(self, latent, name: str = "latent") -> None:
        """``latent`` must be a finite float tensor (B, dim, H, W) with B, H, W >= 1."""
        check_float_tensor(latent, name)
        if latent.dim() != 4 or latent.shape[1] != self.dim:
            raise ValueError(
                f"{name} must have shape (B, dim, H, W) = (B, {self.dim}, H, W); got {tuple(latent.shape)}"
            )
        if latent.numel() == 0:
            raise ValueError(
                f"{name} must have at least one position (B, H, W >= 1); got {tuple(latent.shape)}"
            )
        check_finite(latent, name)

    def in_compute_dtype(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent`` in the dtype of :attr:`entries`: lower-precision latents (autocast) are upcast; a latent
        more precise than the bottleneck is a ``TypeError`` rather than a silent loss of precision."""
        dtype = self.entries.dtype
        if torch.finfo(latent.dtype).bits > torch.finfo(dtype).bits:
            raise TypeError(
                f"latent is {latent.dtype} but the {type(self).__name__} computes in {dtype}; "
                f"convert the bottleneck with .to({latent.dtype}) or pass a {dtype} latent"
            )
        return latent.to(dtype)

    def forward(self, latent: torch.Tensor) -> BottleneckOutput:
        """Quantise ``latent`` (B, dim, H, W); see :class:`BottleneckOutput`.

        A loss that cannot be represented in the bottleneck's dtype — a latent of 1e20 has squared errors
        of about 1e40, beyond float32 — is a ``ValueError`` rather than an inf or NaN loss.
        """
        self.check_latent(latent)
        if self.training and self.needs_update:
            self._forwards_since_update += 1
            if self._forwards_since_update == self.FORWARDS_BEFORE_WARNING:
                warnings.warn(
                    f"{type(self).__name__} ran {self.FORWARDS_BEFORE_WARNING} training forwards without "
                    "update(); its non-gradient state (EMA codebook, dead entries, dictionary) changes only "
                    "there. Call laserlab.bottlenecks.update_bottlenecks(model) after each optimizer.step().",
                    RuntimeWarning,
                    stacklevel=2,
                )
        output = self._forward(latent)
        self._check_loss(output, latent)
        return output

    def _check_loss(self, output: BottleneckOutput, latent: torch.Tensor) -> None:
        """The loss and quantisation error must be finite (one host sync)."""
        terms = [output.loss.detach()]
        if "quantization_error" in output.stats:
            terms.append(output.stats["quantization_error"].to(output.loss.dtype))
        if bool(torch.isfinite(torch.stack(terms)).all()):
            return
        largest = float(latent.detach().abs().max())
        raise ValueError(
            f"{type(self).__name__} loss cannot be represented in {self.entries.dtype}: the squared distance "
            f"between the latent (max |x| = {largest:.3g}) and its codes exceeds the dtype's range; scale "
            "the latent down or compute in float64 (.double())"
        )

    @torch.no_grad()
    def encode(self, latent: torch.Tensor) -> Any:
        """The codes of ``latent`` (B, dim, H, W), as ``forward`` makes them in evaluation mode.

        Changes no state (no k-means initialisation, nothing stashed) and is deterministic: the same
        latent and state give the same codes. The codes are detached; see the bottleneck for their type.
        """
        self.check_latent(latent)
        with torch.autocast(device_type=latent.device.type, enabled=False):
            return self._encode(latent)

    def decode(self, codes: Any) -> torch.Tensor:
        """The quantised latent (B, dim, H, W), in the dtype of :attr:`entries`, of ``codes`` from
        :meth:`encode` (or ``forward(...).codes``); invalid codes raise ``TypeError`` / ``ValueError``.
        Differentiable in the entries (and learned projections)."""
        self.check_codes(codes)
        with torch.autocast(device_type=self.entries.device.type, enabled=False):
            return self._decode(codes)

    # ---------------------------------------------------------------- usage statistics
    def entry_usage(self) -> torch.Tensor:
        """Tracked usage per entry (num_entries,): bias-corrected EMA of the fraction of a step's tokens
        that use it (0 before the first update)."""
        return self.usage_ema / self.usage_weight.clamp_min(torch.finfo(self.usage_weight.dtype).tiny)

    def entry_stats(self, counts: torch.Tensor, tokens: int) -> dict[str, torch.Tensor]:
        """The usage statistics of a batch of ``tokens`` tokens that used each entry ``counts``
        (num_entries,) times: ``perplexity`` of the entry-use histogram, ``usage`` (fraction of the entries
        used), ``sparsity`` (mean entries per token: 1 for VQ, the atoms per token for a sparse code) and
        ``dead_entries`` — entries whose tracked usage is below ``dead_threshold``; before the first update,
        or when ``dead_threshold`` is 0, the entries this batch did not use.
        """
        unused_now = (counts == 0).sum()
        if self.dead_threshold > 0:
            tracked = (self.entry_usage() < self.dead_threshold).sum()
            dead = torch.where(self.usage_weight > 0, tracked, unused_now)
        else:
            dead = unused_now
        return {
            "perplexity": perplexity(counts),
            "usage": used_fraction(counts),
            "sparsity": counts.sum() / tokens,
            "dead_entries": dead.to(counts.dtype),
        }

    # ---------------------------------------------------------------- non-gradient machinery
    def _initialize_once(self, tokens: torch.Tensor) -> None:
        """At the first training-mode forward with ``kmeans_init``: :meth:`_initialize` from ``tokens``."""
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self._initialize(tokens.detach())
            self.initialized.fill_(True)

    def shared_kmeans(self, tokens: torch.Tensor, *, stream: int, start: str, **options) -> KMeansResult:
        """:func:`laserlab.sparse.kmeans` of every rank's ``tokens`` with ``kmeans_iters`` Lloyd steps and a
        generator seeded from (``seed``, ``stream``), broadcast from rank 0 so all ranks hold the same result.

        ``num_entries`` clusters; a k-means++ ``start`` needs as many tokens, so with fewer it fits only
        as many clusters as there are tokens (the first rows of the result).
        """
        data = distributed.all_gather_rows(tokens)
        generator = distributed.shared_generator(derive_seed(self.seed, stream), device=data.device)
        clusters = min(self.num_entries, data.shape[0]) if start == "kmeans++" else self.num_entries
        result = kmeans(
            data, clusters, iterations=self.kmeans_iters, start=start, generator=generator, **options
        )
        distributed.broadcast_(result.centroids, result.counts)  # scatter-adds may round differently per GPU
        return result

    def _stash(
        self,
        counts: torch.Tensor,
        tokens: int,
        *,
        sums: torch.Tensor | None = None,
        batch: Any = None,
        keep_every_batch: bool = False,
    ) -> None:
        """Add one training forward to the pending update: ``counts`` (num_entries,) and ``tokens`` as in
        :class:`PendingUpdate`, optional ``sums``, and ``batch`` — appended when ``keep_every_batch``,
        otherwise replacing the previous forward's."""
        pending = self._pending
        if pending is None:
            self._pending = PendingUpdate(counts.clone(), tokens, sums, [batch])
            return
        pending.counts += counts
        pending.tokens += tokens
        if sums is not None:
            pending.sums += sums
        pending.batches = [*pending.batches, batch] if keep_every_batch else [batch]

    def update(self, *, optimizer: torch.optim.Optimizer | None = None) -> dict[str, torch.Tensor]:
        """Apply the non-gradient updates stashed by the training forwards since the last call.

        Call once after each ``optimizer.step()`` (all ranks together under ``torch.distributed``).
        ``optimizer``, when given, is the one training this bottleneck's parameters: rows it rewrites
        (revived codewords or atoms) get their optimiser state reset. Returns detached scalar statistics of
        the update (``replaced_entries``: entries revived by this update); an empty dict when there was
        nothing to do.
        """
        self._forwards_since_update = 0
        device_type = self.entries.device.type
        with torch.no_grad(), torch.autocast(device_type=device_type, enabled=False):
            return self._apply_updates(optimizer)

    def _apply_updates(self, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor]:
        """:meth:`update` under ``no_grad`` with autocast off: usage, the learning rule, dead entries."""
        pending, self._pending = self._pending, None
        if pending is None:
            return {}
        dtype = self.usage_ema.dtype
        counts = pending.counts.to(dtype)
        seen = counts.new_tensor(float(pending.tokens))
        sums = None if pending.sums is None else pending.sums.to(dtype)
        distributed.all_reduce_sum_(counts, seen, *([] if sums is None else [sums]))
        self.usage_ema.mul_(self.usage_decay).add_(counts / seen, alpha=1 - self.usage_decay)
        self.usage_weight.mul_(self.usage_decay).add_(1 - self.usage_decay)
        candidates = self._learn(pending, counts, sums)
        replaced = 0
        if self.dead_threshold > 0:
            # usage is the same on every rank (all-reduced), so every rank agrees on `dead`
            dead = self.entry_usage() < self.dead_threshold
            if bool(dead.any()):
                revived = self._revive(dead, candidates)
                # a revived entry restarts at the threshold, so it has a while to prove itself
                self.usage_ema[revived] = self.dead_threshold * self.usage_weight
                if optimizer is not None and isinstance(self.entries, nn.Parameter):
                    reset_optimizer_rows(optimizer, self.entries, revived)
                replaced = int(revived.sum())
        self.update_steps += 1
        return {"replaced_entries": torch.tensor(float(replaced))}


def update_bottlenecks(
    module: nn.Module, *, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, torch.Tensor]:
    """Call :meth:`Bottleneck.update` on every bottleneck inside ``module`` (a model, DDP-wrapped or not).

    Returns the update statistics keyed ``"<submodule name>.<stat>"`` (just ``"<stat>"`` for ``module``
    itself).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module (a model); got {type(module).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None; got {type(optimizer).__name__}")
    stats = {}
    for name, sub in module.named_modules():
        if isinstance(sub, Bottleneck):
            for key, value in sub.update(optimizer=optimizer).items():
                stats[f"{name}.{key}" if name else key] = value
    return stats


def reset_optimizer_rows(
    optimizer: torch.optim.Optimizer, parameter: nn.Parameter, rows: torch.Tensor
) -> None:
    """Zero ``optimizer``'s per-element state (Adam moments, SGD momentum, …) for ``parameter[rows]``.

    For rows a non-gradient update has just rewritten (revived codewords or atoms): moments accumulated by
    the old rows would otherwise push the new ones. ``rows`` indexes dim 0 (indices or a boolean mask).
    Per-parameter scalars such as Adam's step count are shared by all rows and stay. Nothing happens when
    the optimiser holds no state for ``parameter``.
    """
    for value in optimizer.state.get(parameter, {}).values():
        if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
            value[rows] = 0
