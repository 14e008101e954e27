"""Training autoencoders on Lightning: ``fit(config) -> FitResult``, ``laserlab train --config FILE``.

- :mod:`.config` — :class:`TrainConfig` (validated; YAML or dict; :class:`ModelConfig` and the other
  sections), :func:`recipe` (defaults for a notebook run) and :meth:`TrainConfig.with_overrides`;
- :mod:`.losses` — loss registry ``LOSSES``, :class:`Objective`, regulariser registry ``REGULARIZERS``
  (``cross_scale``: phase 2 of spectral regularisation);
- :mod:`.module` — :class:`AutoencoderModule` (LightningModule; bottleneck updates after each optimiser
  step, same loss terms in training and validation, quality/rate/code metrics);
- :mod:`.callbacks` — callback registry ``CALLBACKS``;
- :mod:`.checkpoint` — :class:`AtomicCheckpointIO`;
- :mod:`.fit` — :func:`fit`, :class:`FitResult` (exact resume, DDP), :func:`steps_to_reach`,
  :func:`late_gain` (has a curve flattened?).
"""

from __future__ import annotations

from .callbacks import CALLBACKS
from .checkpoint import AtomicCheckpointIO, atomic_save
from .config import (
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    SpectralConfig,
    TrainConfig,
    TrainerConfig,
    recipe,
)
from .fit import FitResult, fit, late_gain, read_history, steps_to_reach
from .losses import (
    LOSSES,
    REGULARIZERS,
    LatentPenalty,
    LossTerms,
    Objective,
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
    "ModelConfig",
    "Objective",
    "OptimizerConfig",
    "SpectralConfig",
    "TrainConfig",
    "TrainerConfig",
    "atomic_save",
    "fit",
    "late_gain",
    "multiresolution_dct_loss",
    "multiresolution_gradient_loss",
    "read_history",
    "recipe",
    "steps_to_reach",
]
