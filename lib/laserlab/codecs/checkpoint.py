"""Codecs from training checkpoints: ``from_checkpoint(path) -> Codec``, by model family.

A checkpoint written by :func:`laserlab.train.fit` holds the training config (hyperparameter ``config``)
and the weights (``state_dict``; the model's under ``model.``). :func:`from_checkpoint` reads it
(:func:`laserlab.train.read_checkpoint`: CRC-checked, tensors and plain containers only), builds the model
from the config's ``model`` section, loads the weights (CPU, eval mode, in the precision they were trained
in) and hands the resulting :class:`TrainedModel` to the first registered family whose model types it is
an instance of. A missing, truncated or corrupt file, a checkpoint without a laserlab config, weights that
do not fit the config and a model no family codes are each a ``ValueError`` naming the file.

Families are the entries of :data:`CHECKPOINT_CODECS`, a registry of :class:`CheckpointFamily` records.
A family registers itself beside its codec class, in one line::

    CHECKPOINT_CODECS.register("learned", CheckpointFamily((LearnedCodecModel,), LearnedCodec.from_trained))

where ``codec(trained: TrainedModel) -> Codec`` may read more of ``trained.checkpoint`` than the weights
(e.g. entropy-coding priors stored beside them). Registered: ``tokenizer`` (VQ-VAE, DL-VAE, K-SVD-VAE and
two-level autoencoders → :class:`~laserlab.codecs.tokenizers.TokenizerCodec`) and ``learned``
(:class:`~laserlab.models.LearnedCodecModel` → :class:`~laserlab.codecs.learned.LearnedCodec`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..registry import Registry
from .base import Codec


@dataclass(frozen=True)
class TrainedModel:
    """A model restored from a training checkpoint.

    - ``path`` — the checkpoint file;
    - ``config`` — the training config as the checkpoint stores it (a plain dict, the model section flat);
    - ``model`` — built from ``config["model"]`` with the checkpoint's weights, on the CPU, in eval mode;
    - ``checkpoint`` — the whole Lightning checkpoint dict (anything else a family stored in it).
    """

    path: Path
    config: dict
    model: nn.Module
    checkpoint: dict


@dataclass(frozen=True)
class CheckpointFamily:
    """A codec family for :func:`from_checkpoint`: models that are instances of one of ``models`` are
    coded by ``codec(trained) -> Codec``."""

    models: tuple[type[nn.Module], ...]
    codec: Callable[[TrainedModel], Codec]


#: family name → :class:`CheckpointFamily`; :func:`from_checkpoint` tries them in registration order
CHECKPOINT_CODECS: Registry[CheckpointFamily] = Registry("checkpoint codec family")


def load_trained_model(path: str | Path) -> TrainedModel:
    """The model a :func:`laserlab.train.fit` checkpoint holds, as a :class:`TrainedModel`."""
    from ..train import ModelConfig, read_checkpoint

    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = (checkpoint.get("hyper_parameters") or {}).get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError(
            f"checkpoint {str(path)!r} holds no laserlab training config (hyperparameter 'config' with a "
            "'model' section); it was not written by laserlab.train.fit"
        )
    try:
        model_config = ModelConfig.from_dict(config["model"])
        model_config.validate()
        model = model_config.build()
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {str(path)!r}: its model section cannot be built: {error}") from error
    prefix = "model."
    state = {
        key[len(prefix) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)
    }
    # in the precision it was trained in (load_state_dict would cast float64 weights to float32)
    dtype = next((value.dtype for value in state.values() if value.is_floating_point()), torch.float32)
    model = model.to(dtype)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"checkpoint {str(path)!r}: its weights do not fit the model its config describes "
            f"({model_config.name!r}): {error}"
        ) from error
    return TrainedModel(path, config, model.eval(), checkpoint)


def from_checkpoint(path: str | Path) -> Codec:
    """The codec for the model trained in the checkpoint at ``path``; see the module docstring."""
    trained = load_trained_model(path)
    for family in (entry for _, entry in CHECKPOINT_CODECS.items()):
        if isinstance(trained.model, family.models):
            return family.codec(trained)
    name = trained.config["model"].get("name")
    kinds = {key: [cls.__name__ for cls in entry.models] for key, entry in CHECKPOINT_CODECS.items()}
    raise ValueError(
        f"checkpoint {str(path)!r} holds a {name!r} model ({type(trained.model).__name__}), which no codec "
        f"family codes; families and their model types: {kinds}"
    )
