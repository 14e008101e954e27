"""``fit(config) -> FitResult``: train an autoencoder or a learned codec with Lightning, resumably, on one
device or many.

Layout of ``config.output_dir``: ``checkpoints/last.ckpt`` (written atomically at the end of every
``trainer.checkpoint_every_n_epochs`` epochs, and when training stops), ``checkpoints/epoch=…-step=….ckpt``
(the latest), ``logs/version_<n>/metrics.csv`` and ``hparams.yaml`` (CSVLogger; a resumed run writes the
next version, :meth:`FitResult.history` merges them).

**Exact resume.** With ``resume`` (default) and an existing ``last.ckpt``, training continues from it
(``ckpt_path="last"``). The data order depends only on (seed, epoch), checkpoints carry the random
states, and CPU kernels run deterministically, so a run killed at any point and resumed ends with the
same weights and metrics as an uninterrupted one, bit for bit on CPU. The training loader resumes at
epoch granularity (:class:`laserlab.data.datamodule.ResumableLoader`), so checkpoints are taken at epoch
ends; a kill loses at most the work since the last one.

**Entropy-coding priors and real rates.** When the model can be a tokenizer codec (VQ bottlenecks, or
dictionaries with ``value_bits``; :func:`laserlab.codecs.tokenizers.uncodable_reason`), the end of
training runs the trained model once over the training split in evaluation mode, fits the codec's
categorical priors to its symbols and stores them in ``last.ckpt`` (atomically;
:func:`laserlab.codecs.fit_checkpoint_priors`), so ``laserlab.codecs.from_checkpoint(last.ckpt)`` is a
working codec. A run resumed or continued from that checkpoint trains on as before (Lightning ignores the
extra key and its next checkpoints do not carry it) and refits them for its final weights at its end.
The final ``metrics`` then also hold ``val/bpp_entropy`` (−Σ log2 p of the held-out images' symbols
under those priors, bits per pixel) and ``val/bpp_coded`` (8 · bytes / pixels of the real files), next to
``val/bpp`` (the bottlenecks' closed form); see :func:`laserlab.codecs.rate_accounting`.

**Spectral regularisation.** ``config.spectral.phase1`` adds the
:class:`~laserlab.spectral.SpectralTruncation` callback (training batches low-passed, τ logged);
``phase2`` adds the regularizer ``cross_scale`` to the objective (built by :class:`AutoencoderModule`).

**Distributed.** ``trainer.strategy="ddp"`` with ``devices``/``num_nodes`` uses Lightning's DDP; each rank
trains on its own share of every epoch, gradients are averaged by DDP and the bottlenecks' non-gradient
state is synchronised by the bottlenecks themselves (:mod:`laserlab.bottlenecks.distributed`), so every
rank holds the same weights, codebooks and dictionaries.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from ..checks import check_number
from ..codecs.tokenizers import TokenizerCodec, fit_checkpoint_priors, rate_accounting, uncodable_reason
from ..data.datamodule import ImageDataModule
from ..quiet import quiet_library_chatter
from ..spectral import SpectralTruncation
from .base import TrainingModule
from .callbacks import CALLBACKS
from .checkpoint import AtomicCheckpointIO, read_checkpoint
from .codec_module import LearnedCodecModule
from .config import TrainConfig
from .module import AutoencoderModule


@dataclass
class FitResult:
    """What :func:`fit` returns.

    - ``model`` — the trained model (in eval mode, on the device it trained on);
    - ``module`` — its LightningModule (objective, config): :class:`AutoencoderModule`, or
      :class:`LearnedCodecModule` for a learned codec;
    - ``metrics`` — held-out metrics after training (``val/psnr``, ``val/ssim``, ``val/bpp``, ...;
      ``val/bpp_entropy`` and ``val/bpp_coded`` for a codable tokenizer), floats;
    - ``checkpoints`` — ``{"last": path, "latest": path}``;
    - ``log_dir`` — the folder holding the CSV logs (``version_<n>`` per run or resume);
    - ``global_step`` — optimiser steps done.
    """

    model: nn.Module
    module: TrainingModule
    metrics: dict[str, float]
    checkpoints: dict[str, Path]
    log_dir: Path
    global_step: int
    config: TrainConfig = field(repr=False)

    def history(self) -> dict[str, list[tuple[int, float]]]:
        """:func:`read_history` of this run's ``log_dir``."""
        return read_history(self.log_dir)


def read_history(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every logged column of the CSV logs under ``log_dir`` as (step, value) pairs in step order, over
    all runs (``version_<n>``); a resumed run's values replace the killed run's at the same step."""
    columns: dict[str, dict[int, float]] = {}
    versions = sorted(Path(log_dir).glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    for path in versions:
        with path.open() as file:
            for row in csv.DictReader(file):
                step = int(row["step"])
                for name, value in row.items():
                    if name not in ("step", "epoch") and value not in ("", None):
                        columns.setdefault(name, {})[step] = float(value)
    return {name: sorted(values.items()) for name, values in columns.items()}


def steps_to_reach(history: Sequence[tuple[int, float]], target: float) -> int | None:
    """The first step of ``history`` ((step, value) pairs, e.g. ``read_history(...)["val/mse"]``) whose
    value is at or below ``target``; ``None`` when it never gets there."""
    check_number(target, "target")
    for step, value in sorted(history):
        if value <= target:
            return int(step)
    return None


def late_gain(history: Sequence[tuple[int, float]], *, window: float = 0.25) -> float | None:
    """How much a logged metric still moved at the end of training: the mean of the values logged in the
    last ``window`` of the steps (e.g. ``read_history(...)["val/psnr"]``, (step, value) pairs) minus the
    mean of those in the ``window`` before it. Near 0: the curve has flattened. ``None`` when either
    window holds no value. Means over windows, not single points, so validation noise does not decide."""
    check_number(window, "window", minimum=0.0, maximum=0.5, exclusive=True)
    if not history:
        return None
    last = max(step for step, _ in history)
    cut, start = last - window * last, last - 2 * window * last
    recent = [v for s, v in history if s > cut]
    before = [v for s, v in history if start < s <= cut]
    if not recent or not before:
        return None
    return sum(recent) / len(recent) - sum(before) / len(before)


def check_checkpoint(path: str | Path) -> None:
    """Raise a ``ValueError`` naming ``path`` and how to start afresh when the checkpoint cannot be read
    (truncated, corrupt, not a checkpoint; see :func:`~laserlab.train.checkpoint.read_checkpoint`),
    instead of a bare torch or pickle error from deep inside Lightning."""
    try:
        read_checkpoint(path, weights_only=False)
    except ValueError as error:
        raise ValueError(
            f"cannot resume from {str(path)!r}: the checkpoint is truncated or corrupt "
            f"({error.__cause__ or error}). To start afresh, delete the file (and the other .ckpt files in "
            "that folder), use another output_dir, or set resume: false"
        ) from error


def training_module(config: TrainConfig) -> TrainingModule:
    """The LightningModule of the model's family: :class:`LearnedCodecModule` for learned codecs,
    :class:`AutoencoderModule` otherwise."""
    family = LearnedCodecModule if config.model.is_learned_codec else AutoencoderModule
    return family(config)


def _deterministic(config: TrainConfig) -> bool | str:
    setting = config.trainer.deterministic
    if setting != "auto":
        return setting
    accelerator = config.trainer.accelerator
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    return True if on_cpu else "warn"


def fit(config: dict | TrainConfig, *, callbacks: Sequence[L.Callback] = ()) -> FitResult:
    """Train ``config`` (a :class:`TrainConfig` or its dict, see :mod:`laserlab.train.config`).

    ``callbacks`` are added to those named in ``config.callbacks``. Returns a :class:`FitResult`; every
    rank returns one under DDP. Lightning's info lines, tips and known deprecation notices are silenced
    (:func:`laserlab.quiet.quiet_library_chatter`); other warnings still show.
    """
    config = TrainConfig.from_dict(config)
    quiet_library_chatter()
    L.seed_everything(config.seed, workers=True, verbose=False)
    output = Path(config.output_dir)
    module = training_module(config)
    data = config.data
    datamodule = ImageDataModule(
        data.name,
        image_size=data.image_size,
        batch_size=data.batch_size,
        num_workers=data.num_workers,
        seed=config.seed,
        **data.options,
    )
    checkpoint = ModelCheckpoint(
        dirpath=output / "checkpoints",
        filename="{epoch}-{step}",
        save_last=True,
        save_top_k=1,
        every_n_epochs=config.trainer.checkpoint_every_n_epochs,
        save_on_train_epoch_end=True,
    )
    named = [CALLBACKS.build(name, **(options or {})) for name, options in config.callbacks.items()]
    spectral = config.spectral
    if spectral.phase1:
        named.append(
            SpectralTruncation(
                spectral.tau_init,
                spectral.tau_final,
                spectral.epochs,
                steps=spectral.steps,
                kind=spectral.kind,
                input_only=spectral.input_only,
            )  # switches the module's own phase-2 penalty (module.cross_scale) on after its window
        )
    t = config.trainer
    trainer = L.Trainer(
        max_steps=t.max_steps,
        max_epochs=-1,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=_deterministic(config),
        logger=CSVLogger(output, name="logs"),
        callbacks=[checkpoint, *named, *callbacks],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=t.log_every_n_steps,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_val_batches=t.limit_val_batches,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # ImageDataModule shards the training data per rank itself
        gradient_clip_val=t.gradient_clip_val,
        accumulate_grad_batches=t.accumulate_grad_batches,
        default_root_dir=output,
    )
    last = output / "checkpoints" / "last.ckpt"
    resume = config.resume and last.is_file()
    if resume:
        check_checkpoint(last)
    trainer.fit(module, datamodule=datamodule, ckpt_path="last" if resume else None)
    codable = uncodable_reason(module.model) is None and last.is_file()
    if codable:
        if trainer.is_global_zero:
            fit_checkpoint_priors(last, images=datamodule.train_set)
        trainer.strategy.barrier()  # every rank reads the priors rank 0 stored
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    metrics = {
        name: float(value) for name, value in (results[0] if results else {}).items() if name != "step"
    }
    if codable:
        rates = rate_accounting(TokenizerCodec(checkpoint=last), datamodule.test_set)
        metrics.update({"val/bpp_entropy": rates.entropy_bpp, "val/bpp_coded": rates.coded_bpp})
    module.eval()
    return FitResult(
        model=module.model,
        module=module,
        metrics=metrics,
        checkpoints={"last": Path(checkpoint.last_model_path), "latest": Path(checkpoint.best_model_path)},
        log_dir=Path(trainer.logger.root_dir),
        global_step=trainer.global_step,
        config=config,
    )
