"""The bottleneck contract shared by VQ and dictionary bottlenecks.

A bottleneck maps an encoder latent (B, dim, H, W) to a :class:`BottleneckOutput`: the quantised latent
(same shape, straight-through estimator applied, so the decoder's gradient reaches the encoder), its own
loss, the discrete codes and a dict of scalar statistics.

**Non-gradient updates happen after the optimiser step, never inside ``forward``.** ``forward`` also runs
in validation and in Lightning's sanity check, under autocast, and before the optimiser has used the
gradients of the very batch it saw; updating a codebook there mixes states across the step and lets
validation data into training state. So a training-mode ``forward`` only *stashes* what the update needs
(sufficient statistics such as per-code counts and sums, and candidate vectors) and
:meth:`Bottleneck.update` — called once after each ``optimizer.step()``, through
:func:`update_bottlenecks` — applies it in the bottleneck's own precision (float32 or float64), under
``no_grad``, outside autocast, synchronised across ``torch.distributed`` ranks. In Lightning the place is
an ``optimizer_step`` override, after ``super().optimizer_step(...)``: it runs once per real step, also
with ``accumulate_grad_batches > 1`` (``on_train_batch_end`` would also run after micro-batches).
Statistics from several forwards (gradient accumulation) are summed and applied by the one ``update``
after the step. Evaluation-mode forwards stash nothing.

EMA codebooks fit this directly: the EMA *is* a running sufficient statistic, so forward accumulates the
batch's per-code counts and sums, and ``update`` all-reduces them, folds them into the EMA buffers and
recomputes the codewords — the codebook is a buffer the optimiser never sees (no double update). The one
exception is data-driven initialisation (k-means on the first batch): the codebook must exist before the
first batch can be quantised, so it happens at the first training-mode forward, once, under ``no_grad``.
"""

from __future__ import annotations

import abc
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..checks import check_finite, check_float_tensor, check_positive_int


@dataclass
class BottleneckOutput:
    """What every bottleneck's ``forward`` returns.

    - ``quantized`` — the quantised latent, same shape and dtype as the input (B, dim, H, W), with the
      straight-through (or rotation-trick) estimator applied: its value is the reconstruction from the codes,
      its gradient flows to the input latent.
    - ``loss`` — scalar tensor to add to the training objective (commitment, codebook or dictionary terms).
    - ``codes`` — the discrete representation. :class:`~laserlab.bottlenecks.vq.VectorQuantizer`: codeword
      indices, a long tensor (B, H, W). Dictionary bottlenecks: their sparse code per token (support
      indices and coefficient values, see that class). Always detached.
    - ``stats`` — named detached scalar tensors for logging: ``perplexity``, ``usage``, ``dead_codes``,
      ``bits_per_token``, … (each bottleneck documents its keys).
    """

    quantized: torch.Tensor
    loss: torch.Tensor
    codes: Any
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


class Bottleneck(nn.Module, abc.ABC):
    """Base of the bottleneck modules: input validation, the ``forward`` contract and the update hook.

    Subclasses implement :meth:`_forward` (on an already validated latent), :attr:`bits_per_token`, and,
    when they keep non-gradient state, :meth:`_apply_updates` and :attr:`needs_update`.
    """

    #: training-mode forwards without :meth:`update` after which a bottleneck that needs updates warns
    FORWARDS_BEFORE_WARNING = 100

    def __init__(self, dim: int):
        super().__init__()
        check_positive_int(dim, "dim")
        self.dim = dim
        self._forwards_since_update = 0

    @property
    @abc.abstractmethod
    def bits_per_token(self) -> float:
        """Bits needed to transmit one token's code (one (dim,) vector of the latent)."""

    @property
    def needs_update(self) -> bool:
        """Whether :meth:`update` has work to do (EMA, dead-code replacement, dictionary updates)."""
        return False

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

    def forward(self, latent: torch.Tensor) -> BottleneckOutput:
        """Quantise ``latent`` (B, dim, H, W); see :class:`BottleneckOutput`."""
        self.check_latent(latent)
        if self.training and self.needs_update:
            self._forwards_since_update += 1
            if self._forwards_since_update == self.FORWARDS_BEFORE_WARNING:
                warnings.warn(
                    f"{type(self).__name__} ran {self.FORWARDS_BEFORE_WARNING} training forwards without "
                    "update(); its non-gradient state (EMA codebook, dead codes, dictionary) changes only "
                    "there. Call laserlab.bottlenecks.update_bottlenecks(model) after each optimizer.step().",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self._forward(latent)

    @abc.abstractmethod
    def _forward(self, latent: torch.Tensor) -> BottleneckOutput:
        """Quantise a validated latent (B, dim, H, W)."""

    def update(self, *, optimizer: torch.optim.Optimizer | None = None) -> dict[str, torch.Tensor]:
        """Apply the non-gradient updates stashed by the training forwards since the last call.

        Call once after each ``optimizer.step()`` (all ranks together under ``torch.distributed``).
        ``optimizer``, when given, is the one training this bottleneck's parameters: rows it rewrites
        (revived codes or atoms) get their optimiser state reset. Returns detached scalar statistics of the
        update (e.g. ``replaced_codes``); an empty dict when there was nothing to do.
        """
        self._forwards_since_update = 0
        reference = next(iter(self.buffers()), None)
        device_type = reference.device.type if reference is not None else "cpu"
        with torch.no_grad(), torch.autocast(device_type=device_type, enabled=False):
            return self._apply_updates(optimizer)

    def _apply_updates(self, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor]:
        """Subclass hook for :meth:`update` (already under ``no_grad`` with autocast off)."""
        del optimizer
        return {}


def update_bottlenecks(
    module: nn.Module, *, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, torch.Tensor]:
    """Call :meth:`Bottleneck.update` on every bottleneck inside ``module`` (a model, DDP-wrapped or not).

    Returns the update statistics keyed ``"<submodule name>.<stat>"`` (just ``"<stat>"`` for ``module``
    itself).
    """
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
