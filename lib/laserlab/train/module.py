"""``AutoencoderModule``: the LightningModule that trains any :mod:`laserlab.models` autoencoder.

The step, validation, quality metrics, logging and exact-resume random states are
:class:`~laserlab.train.base.TrainingModule`'s. This family adds: after each optimiser step,
:func:`laserlab.bottlenecks.update_bottlenecks` applies the bottlenecks' non-gradient updates (EMA
codebooks, online / K-SVD dictionaries, dead-entry replacement), synchronised across ranks.

Logged besides the shared columns: ``bpp`` (bits per pixel of the codes, from each bottleneck's
``bits_per_token``) and every bottleneck statistic (``perplexity``, ``usage``, ``dead_entries``,
``sparsity``, ...; a hierarchical model's coarse level with the prefix ``coarse_``).
"""

from __future__ import annotations

import torch

from ..bottlenecks import update_bottlenecks
from ..models import AutoencoderOutput
from .base import TrainingModule, level_prefix


class AutoencoderModule(TrainingModule):
    """Trains ``config.model.build()`` (an autoencoder) with the config's objective and optimiser; see
    :class:`~laserlab.train.base.TrainingModule`.

    ``AutoencoderModule.load_from_checkpoint(path).model`` rebuilds a trained model.
    """

    def rate_scalars(self, output: AutoencoderOutput, images: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {"bpp": torch.tensor(output.bits_per_pixel, device=images.device)}
        for level, coded in enumerate(output.bottlenecks):
            for key, value in coded.stats.items():
                values[level_prefix(level) + key] = value.detach().float()
        return values

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # after the step, once per real step (also with gradient accumulation): see bottlenecks.base
        stats = update_bottlenecks(self.model, optimizer=getattr(optimizer, "optimizer", optimizer))
        if stats:
            self.log_dict({f"train/{name}": value.float() for name, value in stats.items()}, on_step=True)
