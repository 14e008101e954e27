"""Training autoencoders and learned codecs on Lightning: ``fit(config) -> FitResult``, ``laserlab train``.

- :mod:`.config` — :class:`TrainConfig` (validated; YAML or dict; :class:`ModelConfig` and the other
  sections), :func:`recipe` (defaults for a notebook run) and :meth:`TrainConfig.with_overrides`;
- :mod:`.losses` — loss registry ``LOSSES``, :class:`Objective`, regulariser registry ``REGULARIZERS``
  (``cross_scale``: phase 2 of spectral regularisation);
- :mod:`.base` — :class:`TrainingModule`, what every family's LightningModule shares (batch checks, same
  loss terms in training and validation, quality metrics, logging, exact-resume random states);
- :mod:`.module` — :class:`AutoencoderModule` (bottleneck updates after each optimiser step, code
  metrics);
- :mod:`.codec_module` — :class:`LearnedCodecModule` (learned codecs: rate–distortion loss, auxiliary
  loss with its own optimiser, per-stream bpp);
- :mod:`.callbacks` — callback registry ``CALLBACKS``;
- :mod:`.checkpoint` — :class:`AtomicCheckpointIO`, :func:`read_checkpoint`;
- :mod:`.fit` — :func:`fit`, :class:`FitResult` (exact resume, DDP), :func:`steps_to_reach`,
  :func:`late_gain` (has a curve flattened?).
"""

from __future__ import annotations

from .base import TrainingModule
from .callbacks import CALLBACKS
from .checkpoint import AtomicCheckpointIO, atomic_save, read_checkpoint
from .codec_module import LearnedCodecModule
from .config import (
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    SpectralConfig,
    TrainConfig,
    TrainerConfig,
    recipe,
)
from .fit import FitResult, fit, late_gain, read_history, steps_to_reach, training_module
from .losses import (
    LOSSES,
    REGULARIZERS,
    LatentPenalty,
    LossTerms,
    Objective,
    OutputLoss,
    RateDistortionLoss,
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
    "LearnedCodecModule",
    "LossTerms",
    "ModelConfig",
    "Objective",
    "OptimizerConfig",
    "OutputLoss",
    "RateDistortionLoss",
    "SpectralConfig",
    "TrainConfig",
    "TrainerConfig",
    "TrainingModule",
    "atomic_save",
    "fit",
    "late_gain",
    "multiresolution_dct_loss",
    "multiresolution_gradient_loss",
    "read_checkpoint",
    "read_history",
    "recipe",
    "steps_to_reach",
    "training_module",
]
