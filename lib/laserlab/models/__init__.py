"""Models by name: ``build_model("autoencoder" | "hierarchical" | "factorized_prior" |
"mean_scale_hyperprior" | "hierarchical_vae", **options)``.

``Autoencoder`` with a ``"vq"`` bottleneck is a VQ-VAE, with ``"dictionary"`` a DL-VAE (gradient or online
dictionary updates) or a K-SVD-VAE (``update_rule="ksvd"``); ``HierarchicalAutoencoder`` adds a coarse level
at half the fine latent's resolution. Both take and return images in [0, 1] and return an
:class:`AutoencoderOutput`. The learned codecs (:mod:`.compression`: :class:`FactorizedPrior`,
:class:`MeanScaleHyperprior`; :mod:`.hierarchical_vae`: :class:`HierarchicalVAE`, a top-down codec with
2–4 latent scales; any :class:`LearnedCodecModel`) take images in [0, 1] and return a
:class:`CodecOutput` with entropy-model likelihoods. A model is registered in :data:`MODELS` by one
line; its constructor's keyword options are what a training config's ``model`` section accepts.
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry
from .autoencoder import Autoencoder, AutoencoderOutput
from .blocks import Decoder, Encoder, ResidualBlock
from .compression import (
    CodecOutput,
    CompressedImages,
    FactorizedPrior,
    LearnedCodecModel,
    MeanScaleHyperprior,
)
from .hierarchical import HierarchicalAutoencoder
from .hierarchical_vae import HierarchicalVAE

MODELS: Registry[type[nn.Module]] = Registry("model")
MODELS.register("autoencoder", Autoencoder)
MODELS.register("hierarchical", HierarchicalAutoencoder)
MODELS.register("factorized_prior", FactorizedPrior)
MODELS.register("mean_scale_hyperprior", MeanScaleHyperprior)
MODELS.register("hierarchical_vae", HierarchicalVAE)


def build_model(name: str, **options) -> nn.Module:
    """The model registered as ``name`` in :data:`MODELS`, built with ``options`` (see its class), e.g.
    ``build_model("autoencoder", bottleneck={"name": "vq", "num_codes": 256}, latent_dim=64)``.

    An unknown name, an unknown option or a missing required one (``bottleneck``) is a ``ValueError``
    listing the valid ones."""
    return MODELS.build(name, **options)


__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderOutput",
    "CodecOutput",
    "CompressedImages",
    "Decoder",
    "Encoder",
    "FactorizedPrior",
    "HierarchicalAutoencoder",
    "HierarchicalVAE",
    "LearnedCodecModel",
    "MeanScaleHyperprior",
    "ResidualBlock",
    "build_model",
]
