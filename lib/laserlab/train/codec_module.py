"""``LearnedCodecModule``: the LightningModule that trains learned codecs
(:class:`~laserlab.models.LearnedCodecModel`: factorized prior, mean-scale hyperprior, ...).

The step, validation, quality metrics, logging and exact-resume random states are
:class:`~laserlab.train.base.TrainingModule`'s; the objective is the config's ``loss``, which for these
models includes ``rate_distortion`` (λ·255²·MSE + bpp, CompressAI's convention). What this family adds is
CompressAI's auxiliary loss with its own optimiser:

- the main optimiser (AdamW, ``optimizer.lr`` / ``betas`` / ``weight_decay``) trains every parameter but
  the ``EntropyBottleneck`` quantiles (``model.main_parameters()``); ``trainer.gradient_clip_val`` clips
  its gradients only (CompressAI clips at 1.0; without clipping, learning rates near 1e-3 made a
  mean-scale hyperprior diverge at λ = 0.05 within 200 steps);
- the auxiliary optimiser (Adam, ``optimizer.aux_lr``, default 1e-3) trains the quantiles
  (``model.aux_parameters()``) on ``model.aux_loss()``, stepped right after the main optimiser (also
  under gradient accumulation, every ``accumulate_grad_batches`` batches).

The training step backpropagates the objective plus the auxiliary loss in one backward pass: the
auxiliary loss reaches only the quantiles and the objective never does, so each optimiser sees exactly
its own loss's gradients, and under DDP both are averaged across ranks in the same pass. The auxiliary
optimiser's state is saved in checkpoints (``laserlab_aux_optimizer``), so resuming is exact.

Logged besides the shared columns: ``bpp`` (the likelihood estimate, mean over images), ``bpp_<stream>``
per entropy-coded stream (``bpp_y``, ``bpp_z``, ...) and, in training, ``aux_loss``.
"""

from __future__ import annotations

import torch

from ..models import CodecOutput
from .base import TrainingModule

_AUX_STATE = "laserlab_aux_optimizer"


class LearnedCodecModule(TrainingModule):
    """Trains ``config.model.build()`` (a learned codec model); see the module docstring.

    ``aux_optimizer`` is the auxiliary optimiser once training has configured its optimisers.
    ``LearnedCodecModule.load_from_checkpoint(path).model`` rebuilds a trained model (call its
    ``update(force=True)`` before coding, or use :func:`laserlab.codecs.from_checkpoint`).
    """

    def __init__(self, config):
        super().__init__(config)
        self.aux_optimizer: torch.optim.Optimizer | None = None
        self._aux_state: dict | None = None

    def rate_scalars(self, output: CodecOutput, images: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {"bpp": output.bits_per_pixel.detach().mean()}
        for name, bits in output.stream_bits_per_pixel().items():
            values[f"bpp_{name}"] = bits.detach().mean()
        return values

    def auxiliary_terms(self) -> dict[str, torch.Tensor]:
        return {"aux_loss": self.model.aux_loss()}

    def main_parameters(self) -> list[torch.nn.Parameter]:
        return self.model.main_parameters()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        self.aux_optimizer = torch.optim.Adam(self.model.aux_parameters(), lr=self.config.optimizer.aux_lr)
        if self._aux_state is not None:  # a checkpoint restored before the optimisers existed
            self.aux_optimizer.load_state_dict(self._aux_state)
            self._aux_state = None
        return self.main_optimizer()

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # the closure's backward also gave the quantiles their aux-loss gradients
        self.aux_optimizer.step()
        self.aux_optimizer.zero_grad(set_to_none=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.aux_optimizer is not None:
            checkpoint[_AUX_STATE] = self.aux_optimizer.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get(_AUX_STATE)
        if state is None:
            return
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(state)
        else:
            self._aux_state = state
