"""Bottlenecks between encoder and decoder: ``build("vq" | "dictionary", **options)`` → a :class:`Bottleneck`.

Every bottleneck takes a latent (B, dim, H, W) and returns a :class:`BottleneckOutput` (``quantized``,
``loss``, ``codes``, ``stats``), and has the pair ``encode(latent) -> codes`` / ``decode(codes) -> latent``;
options with the same name mean the same thing on every bottleneck (``dead_threshold``, ``usage_decay``,
``kmeans_init``, ``kmeans_iters``, ``seed``), and so do the statistics they report. Non-gradient state (EMA
codebooks, dictionaries, usage counters) changes only in :meth:`Bottleneck.update`, which the training loop
calls after each optimiser step through :func:`update_bottlenecks`, synchronised across
``torch.distributed`` ranks (see :mod:`laserlab.bottlenecks.base` and
:mod:`laserlab.bottlenecks.distributed`).
"""

from __future__ import annotations

from ..registry import Registry
from .base import (
    Bottleneck,
    BottleneckOutput,
    PendingUpdate,
    derive_seed,
    reset_optimizer_rows,
    update_bottlenecks,
)
from .dictionary import UPDATE_RULES, DictionaryBottleneck
from .patches import PatchCode, from_tokens, to_tokens, token_grid, token_map
from .vq import VectorQuantizer

BOTTLENECKS: Registry[type[Bottleneck]] = Registry(
    "bottleneck", {"vq": VectorQuantizer, "dictionary": DictionaryBottleneck}
)


def build(name: str, **options) -> Bottleneck:
    """The bottleneck registered as ``name``, constructed with ``options`` (see its class)."""
    return BOTTLENECKS.build(name, **options)


__all__ = [
    "BOTTLENECKS",
    "UPDATE_RULES",
    "Bottleneck",
    "BottleneckOutput",
    "DictionaryBottleneck",
    "PatchCode",
    "PendingUpdate",
    "VectorQuantizer",
    "build",
    "derive_seed",
    "from_tokens",
    "reset_optimizer_rows",
    "to_tokens",
    "token_grid",
    "token_map",
    "update_bottlenecks",
]
