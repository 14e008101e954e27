"""``TrainingModule``: what every laserlab LightningModule shares, whatever the model family.

One step: check the batch (finite, in [0, 1] — errors name the step), apply the batch transform a
callback may have set (phase 1 of spectral regularisation), forward, :class:`~.losses.Objective` terms
plus the family's auxiliary terms, backward. Validation computes the same objective terms on held-out,
clean images. A family (:class:`~laserlab.train.AutoencoderModule`,
:class:`~laserlab.train.LearnedCodecModule`) adds its rate and statistics (:meth:`rate_scalars`), any
auxiliary loss (:meth:`auxiliary_terms`) and what happens around the optimiser step.

Logged by every family (CSVLogger columns ``<stage>/<name>``; train per step and per epoch, validation
per epoch): ``loss``, every objective term as ``loss_<term>``, ``mse``, ``psnr`` (mean over images of the
per-image PSNR, data range 1), ``ssim`` (validation only, images ≥ 11 pixels a side: on a CPU it costs
as much as a small model's training step), each latent's RMS
(``latent_rms``; a second latent with the prefix ``coarse_``, a third ``level2_``, ...), the family's
rate scalars and, with spectral regularisation, ``spectral_tau`` and ``loss_cross_scale``. Validation
aggregates quality with torchmetrics ``MeanMetric`` (weighted by images, synchronised across ranks).

Checkpoints also carry the Python, NumPy and torch random states, so a resumed run draws what the
uninterrupted run would have drawn.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torchmetrics import MeanMetric, MetricCollection

from ..checks import check_images
from ..perceptual import quality
from ..spectral import CrossScalePenalty
from .config import TrainConfig
from .losses import REGULARIZERS, Objective

QUALITY = ("mse", "psnr", "ssim")


def level_prefix(level: int) -> str:
    """Log-name prefix of the latent or bottleneck at ``level`` (0 finest): "", "coarse_", "level2_", ..."""
    return "" if level == 0 else "coarse_" if level == 1 else f"level{level}_"


class TrainingModule(L.LightningModule):
    """Trains ``config.model.build()`` with the config's objective and an AdamW optimiser.

    ``config`` is a :class:`TrainConfig` or its dict; it is saved as the hyperparameters, so
    ``<Family>Module.load_from_checkpoint(path).model`` rebuilds a trained model. Regularisers
    (``config.regularizer_specs()``, the phase-2 cross-scale penalty included) are built for the model
    from :data:`~laserlab.train.REGULARIZERS`. Subclasses implement :meth:`rate_scalars`.
    """

    def __init__(self, config: dict | TrainConfig):
        super().__init__()
        config = TrainConfig.from_dict(config)
        self.save_hyperparameters({"config": config.to_dict()})
        self.config = config
        self.model = config.model.build()
        regularizers = {
            name: REGULARIZERS.build(name, model=self.model, **options)
            for name, options in config.regularizer_specs().items()
        }
        self.objective = Objective(
            dict(config.loss),
            options=dict(config.loss_options),
            bottleneck_weight=config.bottleneck_weight,
            regularizers=regularizers,
        )
        self.val_metrics = MetricCollection({name: MeanMetric() for name in QUALITY})
        #: ``images → (inputs, targets)`` for training batches, set per batch by callbacks (phase 1)
        self.batch_transform: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def cross_scale(self) -> CrossScalePenalty | None:
        """The phase-2 penalty when regularizer ``cross_scale`` is on (the
        :class:`~laserlab.spectral.SpectralTruncation` callback switches it on after phase 1's window)."""
        regularizers = self.objective.regularizers
        return regularizers["cross_scale"].penalty if "cross_scale" in regularizers else None

    def forward(self, images: torch.Tensor):
        return self.model(images)

    # ---------------------------------------------------------------- family hooks
    def rate_scalars(self, output, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The family's per-batch rate and statistics as detached scalars, e.g. ``{"bpp": ...}``."""
        raise NotImplementedError

    def auxiliary_terms(self) -> dict[str, torch.Tensor]:
        """Losses trained beside the objective, added to the training loss and logged by name (not
        part of ``loss``); none by default."""
        return {}

    def main_parameters(self) -> list[torch.nn.Parameter]:
        """What the main optimiser trains: the model's parameters by default."""
        return list(self.model.parameters())

    # ---------------------------------------------------------------- steps
    def _images(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, list | tuple) else batch
        check_images(images, f"images of {stage} batch {batch_idx} (global step {self.global_step})")
        return images

    def _scalars(self, output, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-batch MSE and PSNR, rate, statistics and latent RMS (detached scalars)."""
        reconstruction = output.reconstruction.detach()
        values = {
            "mse": quality.mse(reconstruction, images).mean(),
            "psnr": quality.psnr(reconstruction, images).mean(),
        }
        values.update(self.rate_scalars(output, images))
        for level, latent in enumerate(output.latents):
            values[level_prefix(level) + "latent_rms"] = latent.detach().pow(2).mean().sqrt()
        return values

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images = self._images(batch, "training", batch_idx)
        if self.batch_transform is not None:
            images, targets = self.batch_transform(images)
        else:
            targets = images
        output = self.model(images)
        losses = self.objective(output, targets)
        auxiliary = self.auxiliary_terms()
        total = sum(auxiliary.values(), losses.total)
        if not bool(torch.isfinite(total.detach())):
            values = {**losses.terms, **auxiliary}
            bad = sorted(name for name, value in values.items() if not bool(torch.isfinite(value.detach())))
            raise FloatingPointError(
                f"training loss is not finite at global step {self.global_step} (batch {batch_idx}); "
                f"non-finite terms: {bad}"
            )
        batch_size = images.shape[0]
        logged = {"train/loss": losses.total.detach()}
        logged.update({f"train/loss_{name}": value.detach() for name, value in losses.terms.items()})
        logged.update({f"train/{name}": value.detach() for name, value in auxiliary.items()})
        logged.update({f"train/{name}": value for name, value in self._scalars(output, targets).items()})
        self.log_dict(logged, on_step=True, on_epoch=True, batch_size=batch_size, prog_bar=False)
        self.log("psnr", logged["train/psnr"], prog_bar=True, logger=False, batch_size=batch_size)
        return total

    def validation_step(self, batch, batch_idx: int) -> None:
        images = self._images(batch, "validation", batch_idx)
        output = self.model(images)
        losses = self.objective(output, images)
        batch_size = images.shape[0]
        reconstruction = output.reconstruction
        self.val_metrics["mse"].update(quality.mse(reconstruction, images))
        self.val_metrics["psnr"].update(quality.psnr(reconstruction, images))
        if min(images.shape[-2:]) >= 11:
            self.val_metrics["ssim"].update(quality.ssim(reconstruction, images))
            self.log("val/ssim", self.val_metrics["ssim"], on_epoch=True, batch_size=batch_size)
        self.log("val/mse", self.val_metrics["mse"], on_epoch=True, batch_size=batch_size)
        # Lightning would log validation inside fit at (optimiser steps − 1); "step" sets the x-axis to the
        # steps actually taken, so validation rows line up with training rows and a later validate() call
        self.log("step", float(self.global_step), on_epoch=True, batch_size=batch_size)
        self.log("val/psnr", self.val_metrics["psnr"], on_epoch=True, batch_size=batch_size, prog_bar=True)
        logged = {"val/loss": losses.total}
        logged.update({f"val/loss_{name}": value for name, value in losses.terms.items()})
        scalars = self._scalars(output, images)
        logged.update({f"val/{name}": value for name, value in scalars.items() if name not in QUALITY})
        self.log_dict(logged, on_step=False, on_epoch=True, batch_size=batch_size, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    # ---------------------------------------------------------------- optimisation
    def main_optimizer(self) -> torch.optim.Optimizer:
        """AdamW with the config's ``optimizer`` options over :meth:`main_parameters` and any trainable
        objective part (e.g. the cross-scale predictors; frozen LPIPS is not)."""
        options = self.config.optimizer
        parameters = [*self.main_parameters(), *(p for p in self.objective.parameters() if p.requires_grad)]
        return torch.optim.AdamW(
            parameters,
            lr=options.lr,
            betas=tuple(options.betas),
            weight_decay=options.weight_decay,
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.main_optimizer()

    # ---------------------------------------------------------------- exact resume
    def on_train_epoch_start(self) -> None:
        # Lightning's logging step comes back one too high after a restart from an end-of-epoch
        # checkpoint; with one Lightning optimiser it equals the optimiser steps, so resumed logs line up.
        self.trainer.fit_loop.epoch_loop._batches_that_stepped = self.trainer.global_step

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # plain containers and tensors only, so the checkpoint loads with torch.load(weights_only=True)
        kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
        checkpoint["laserlab_rng"] = {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gauss),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("laserlab_rng")
        if states is None:
            return
        random.setstate(states["python"])
        kind, keys, position, has_gauss, cached_gauss = states["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
        torch.set_rng_state(states["torch"])
        if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])
