"""Training autoencoders on Lightning: ``fit(config) -> FitResult``, ``laserlab train --config FILE``.

- :mod:`.config` — :class:`TrainConfig` (validated; YAML or dict);
- :mod:`.losses` — loss registry ``LOSSES``, :class:`Objective`, regulariser registry ``REGULARIZERS``;
- :mod:`.module` — :class:`AutoencoderModule` (LightningModule; bottleneck updates after each optimiser
  step, same loss terms in training and validation, quality/rate/code metrics);
- :mod:`.callbacks` — callback registry ``CALLBACKS``;
- :mod:`.checkpoint` — :class:`AtomicCheckpointIO`;
- :mod:`.fit` — :func:`fit`, :class:`FitResult` (exact resume, DDP), :func:`steps_to_reach`.
"""

from __future__ import annotations

from .callbacks import CALLBACKS, build_callback
from .checkpoint import AtomicCheckpointIO, atomic_save
from .config import DataConfig, OptimizerConfig, SpectralConfig, TrainConfig, TrainerConfig
from .fit import FitResult, fit, read_history, steps_to_reach
from .losses import (
    LOSSES,
    REGULARIZERS,
    LatentPenalty,
    LossTerms,
    Objective,
    build_loss,
    multiresolution_dct_loss,
    multiresolution_gradient_loss,
)
from .module import AutoencoderModule

__all__ = [
    "CALLBACKS",
    "LOSSES",
    "REGULARIZERS",
    "AtomicCheckpointIO",
    "AutoencoderModule",
    "DataConfig",
    "FitResult",
    "LatentPenalty",
    "LossTerms",
    "Objective",
    "OptimizerConfig",
    "SpectralConfig",
    "TrainConfig",
    "TrainerConfig",
    "atomic_save",
    "build_callback",
    "build_loss",
    "fit",
    "multiresolution_dct_loss",
    "multiresolution_gradient_loss",
    "read_history",
    "steps_to_reach",
]
