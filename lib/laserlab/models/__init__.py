"""Autoencoders over any bottleneck: ``build_model({"name": "autoencoder" | "hierarchical", ...})``.

``Autoencoder`` with a ``"vq"`` bottleneck is a VQ-VAE, with ``"dictionary"`` a DL-VAE (gradient or online
dictionary updates) or a K-SVD-VAE (``update_rule="ksvd"``); ``HierarchicalAutoencoder`` adds a coarse level
at half the fine latent's resolution. Both take and return images in [0, 1] and return an
:class:`AutoencoderOutput`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from .autoencoder import Autoencoder, AutoencoderOutput
from .blocks import Decoder, Encoder, ResidualBlock
from .hierarchical import HierarchicalAutoencoder

MODELS: dict[str, Callable[..., nn.Module]] = {
    "autoencoder": Autoencoder,
    "hierarchical": HierarchicalAutoencoder,
}


def build_model(config: dict) -> nn.Module:
    """The model registered as ``config["name"]``, built with the other keys as options (see its class).

    ``config["bottleneck"]`` is a dict ``{"name": <bottleneck registry key>, **options}``.
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(
            f"model config must be a dict with a 'name' (one of {sorted(MODELS)}); got {config!r}"
        )
    options = dict(config)
    name = options.pop("name")
    if name not in MODELS:
        raise ValueError(f"model name must be one of {sorted(MODELS)}; got {name!r}")
    if "bottleneck" not in options:
        raise ValueError("model config is missing 'bottleneck': {'name': <bottleneck>, ...options}")
    valid = list(inspect.signature(MODELS[name]).parameters)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; valid options: {valid}")
    return MODELS[name](**options)


__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderOutput",
    "Decoder",
    "Encoder",
    "HierarchicalAutoencoder",
    "ResidualBlock",
    "build_model",
]
