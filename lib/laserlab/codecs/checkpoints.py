"""Codecs from training checkpoints: ``from_checkpoint(path)`` returns the codec a trained model defines.

A checkpoint codec is not in the option registry (:func:`laserlab.codecs.build`): it needs a trained
model, so its one setting is the checkpoint path and ``from_checkpoint(codec.settings["checkpoint"])``
rebuilds it. Each model family that can be a codec registers here with
:func:`register_checkpoint_family`: a name, a test that recognises its checkpoints (given the loaded
checkpoint dict) and the function that builds its codec from the path. :func:`from_checkpoint` reads
the file once (:func:`read_checkpoint`: ``torch.load`` with ``weights_only=True``, so a checkpoint
cannot run code) and asks each family in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import Codec


@dataclass(frozen=True)
class CheckpointFamily:
    """A model family whose checkpoints are codecs: ``recognises(checkpoint dict) -> bool`` and
    ``codec(path) -> Codec``."""

    name: str
    recognises: Callable[[dict], bool]
    codec: Callable[[Path], Codec]


CHECKPOINT_FAMILIES: dict[str, CheckpointFamily] = {}


def register_checkpoint_family(
    name: str, *, recognises: Callable[[dict], bool], codec: Callable[[Path], Codec]
) -> None:
    """Add a model family to :func:`from_checkpoint` (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str; got {name!r}")
    if not callable(recognises) or not callable(codec):
        raise TypeError("recognises and codec must be callables")
    if name in CHECKPOINT_FAMILIES and CHECKPOINT_FAMILIES[name].codec is not codec:
        raise ValueError(f"checkpoint family {name!r} is already registered")
    CHECKPOINT_FAMILIES[name] = CheckpointFamily(name, recognises, codec)


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at ``path`` (``torch.load`` on CPU, ``weights_only=True``); a missing,
    truncated, corrupt or non-checkpoint file is a ``ValueError`` naming the path."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch, zip and pickle raise many types for a damaged file
        raise ValueError(
            f"cannot read checkpoint {str(path)!r}: truncated, corrupt or not one ({error})"
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{str(path)!r} is not a training checkpoint (no 'state_dict')")
    return checkpoint


def from_checkpoint(path: str | Path) -> Codec:
    """The codec of the trained model in the checkpoint at ``path``, by model family."""
    checkpoint = read_checkpoint(path)
    for family in CHECKPOINT_FAMILIES.values():
        if family.recognises(checkpoint):
            return family.codec(Path(path))
    raise ValueError(
        f"checkpoint {str(path)!r} is of no model family that is a codec "
        f"(known: {sorted(CHECKPOINT_FAMILIES)})"
    )


__all__ = [
    "CHECKPOINT_FAMILIES",
    "CheckpointFamily",
    "from_checkpoint",
    "read_checkpoint",
    "register_checkpoint_family",
]
