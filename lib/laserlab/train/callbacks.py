"""Lightning callbacks by name, for the ``callbacks`` section of a training config.

``CALLBACKS`` maps a name to a factory ``(**options) -> lightning.Callback``; :func:`laserlab.train.fit`
builds ``config.callbacks`` (``{name: options}``) with ``CALLBACKS.build(name, **options)`` and appends
callbacks passed to it directly. Other areas register theirs here (e.g. a curriculum changing loss weights
by step: a callback sees the LightningModule as ``pl_module`` and its objective as ``pl_module.objective``).
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor

from ..registry import Registry

CALLBACKS: Registry[Callable[..., L.Callback]] = Registry(
    "callback",
    {"lr_monitor": LearningRateMonitor},  # logs the learning rate (options: logging_interval, ...)
)
