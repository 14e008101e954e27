"""Bottlenecks between encoder and decoder: ``build("vq" | "dictionary", **options)`` → a :class:`Bottleneck`.

Every bottleneck takes a latent (B, dim, H, W) and returns a :class:`BottleneckOutput` (``quantized``,
``loss``, ``codes``, ``stats``); non-gradient state (EMA codebooks, dictionaries, usage counters) changes
only in :meth:`Bottleneck.update`, which the training loop calls after each optimiser step through
:func:`update_bottlenecks`, synchronised across ``torch.distributed`` ranks (see
:mod:`laserlab.bottlenecks.distributed`).
"""

from __future__ import annotations

from .base import Bottleneck, BottleneckOutput, reset_optimizer_rows, update_bottlenecks
from .dictionary import DictionaryBottleneck, DictionaryCode
from .patches import from_tokens, to_tokens, token_grid, token_map
from .vq import VectorQuantizer

BOTTLENECKS: dict[str, type[Bottleneck]] = {
    "vq": VectorQuantizer,
    "dictionary": DictionaryBottleneck,
}


def build(name: str, **options) -> Bottleneck:
    """The bottleneck registered as ``name``, constructed with ``options`` (see its class)."""
    if name not in BOTTLENECKS:
        raise ValueError(f"bottleneck name must be one of {sorted(BOTTLENECKS)}; got {name!r}")
    return BOTTLENECKS[name](**options)


__all__ = [
    "BOTTLENECKS",
    "Bottleneck",
    "BottleneckOutput",
    "DictionaryBottleneck",
    "DictionaryCode",
    "VectorQuantizer",
    "build",
    "from_tokens",
    "reset_optimizer_rows",
    "to_tokens",
    "token_grid",
    "token_map",
    "update_bottlenecks",
]
