"""Training configuration: a dataclass per section, built from a plain dict (or a YAML file) with checks.

``TrainConfig.from_dict(d)`` rejects unknown keys (listing the valid ones), missing required keys
(``model`` with its ``bottleneck``, and ``output_dir``) and unknown registry names (model, bottleneck,
dataset, loss, regularizer, callback), each error naming the key path, e.g. ``data.name``.

Example (YAML)::

    output_dir: runs/vq
    seed: 0
    model: {name: autoencoder, latent_dim: 64, downsample: 4,
            bottleneck: {name: vq, num_codes: 256, ema_decay: 0.99, kmeans_init: true}}
    data: {name: samples, image_size: 64, batch_size: 16}
    loss: {mse: 1.0, dct: 0.1, gradient: 0.1}
    optimizer: {lr: 2.0e-4}
    trainer: {max_steps: 2000}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..checks import check_nonnegative_int, check_number, check_positive_int


def _from_section(cls, values, path: str):
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ValueError(f"{path} must be a mapping of options; got {values!r}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {path}; valid keys: {valid}")
    return cls(**values)


@dataclass
class DataConfig:
    """``name``: a :data:`laserlab.data.DATASETS` key; ``options`` go to the dataset (e.g. ``root``)."""

    name: str = "samples"
    image_size: int = 64
    batch_size: int = 16
    num_workers: int = 0
    options: dict = field(default_factory=dict)

    def validate(self) -> None:
        from ..data import DATASETS

        if self.name not in DATASETS:
            raise ValueError(f"data.name must be one of {sorted(DATASETS)}; got {self.name!r}")
        check_positive_int(self.image_size, "data.image_size")
        check_positive_int(self.batch_size, "data.batch_size")
        check_nonnegative_int(self.num_workers, "data.num_workers")


@dataclass
class OptimizerConfig:
    """Adam(W) options."""

    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)

    def validate(self) -> None:
        check_number(self.lr, "optimizer.lr", minimum=0, exclusive=True)
        check_number(self.weight_decay, "optimizer.weight_decay", minimum=0)
        if len(self.betas) != 2:
            raise ValueError(f"optimizer.betas must be two numbers in [0, 1); got {self.betas!r}")
        for beta in self.betas:
            check_number(beta, "optimizer.betas[i]", minimum=0, maximum=1)
        self.betas = tuple(self.betas)


@dataclass
class TrainerConfig:
    """Lightning ``Trainer`` options. ``deterministic="auto"``: True on CPU, ``"warn"`` on accelerators
    (CUDA scatter-adds used by the bottlenecks have no deterministic kernel). A checkpoint (``last.ckpt``)
    is written every ``checkpoint_every_n_epochs`` epochs; resuming from it is exact (see :func:`fit`)."""

    max_steps: int = 1000
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool | str = "auto"
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    limit_val_batches: int | float = 1.0
    checkpoint_every_n_epochs: int = 1
    progress_bar: bool = True
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1

    def validate(self) -> None:
        for name in ("max_steps", "num_nodes", "log_every_n_steps", "check_val_every_n_epoch"):
            check_positive_int(getattr(self, name), f"trainer.{name}")
        check_positive_int(self.checkpoint_every_n_epochs, "trainer.checkpoint_every_n_epochs")
        check_positive_int(self.accumulate_grad_batches, "trainer.accumulate_grad_batches")
        if self.deterministic not in (True, False, "warn", "auto"):
            raise ValueError(
                f"trainer.deterministic must be true, false, 'warn' or 'auto'; got {self.deterministic!r}"
            )


@dataclass
class SpectralConfig:
    """Spectral regularisation for hierarchical codecs (:mod:`laserlab.spectral`, Cong et al. 2026).

    - ``phase1`` — the DCT truncation curriculum (:class:`~laserlab.spectral.SpectralTruncation`): τ from
      ``tau_init`` to ``tau_final`` linearly over ``epochs`` epochs — or over ``steps`` optimiser steps when
      given (a deviation for step-budgeted runs) — then off; mask ``kind``; ``input_only`` keeps clean
      targets (ablation).
    - ``phase2`` — the cross-scale penalty (:class:`~laserlab.spectral.CrossScalePenalty`) between the
      model's latents (needs a model with two or more, e.g. ``hierarchical``): codec pushed by gradient
      reversal scaled by ``delta``; latents RMS-normalised when ``normalize``. With phase 1 on, the codec
      feels it only after phase 1's window (its predictor learns throughout); logged as ``cross_scale``
      and, being the predictor's loss, part of ``loss``; ``trainer.gradient_clip_val`` clips the joint norm
      of codec and predictor gradients. During the window the training quality metrics (``train/mse``,
      ``train/psnr``) compare with the truncated targets; validation always uses clean images.
    """

    phase1: bool = False
    phase2: bool = False
    tau_init: float = 0.05
    tau_final: float = 1.0
    epochs: int = 100
    steps: int | None = None
    kind: str = "radial"
    input_only: bool = False
    delta: float = 0.1
    normalize: bool = True

    def validate(self) -> None:
        from ..spectral.truncation import check_kind, check_tau

        for name in ("phase1", "phase2", "input_only", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"spectral.{name} must be true or false; got {getattr(self, name)!r}")
        check_tau(self.tau_init, "spectral.tau_init")
        check_tau(self.tau_final, "spectral.tau_final")
        if self.tau_final < self.tau_init:
            raise ValueError(f"spectral.tau_final must be >= spectral.tau_init; got {self.tau_final!r}")
        check_positive_int(self.epochs, "spectral.epochs")
        if self.steps is not None:
            check_positive_int(self.steps, "spectral.steps")
        check_kind(self.kind, "spectral.kind")
        check_number(self.delta, "spectral.delta", minimum=0)

    def check_window(self, max_steps: int) -> None:
        if self.phase1 and self.steps is not None and self.steps >= max_steps:
            raise ValueError(
                f"spectral.steps (the phase-1 window, {self.steps}) must be below trainer.max_steps "
                f"({max_steps}), or the model never trains on clean images and phase 2 never starts"
            )


_SECTIONS = {
    "data": DataConfig,
    "optimizer": OptimizerConfig,
    "trainer": TrainerConfig,
    "spectral": SpectralConfig,
}


@dataclass
class TrainConfig:
    """Everything :func:`laserlab.train.fit` needs. Required: ``model`` and ``output_dir``.

    - ``model`` — :func:`laserlab.models.build_model` config (``name``, ``bottleneck``, shape options).
    - ``loss`` — ``{LOSSES name: weight}``; ``loss_options`` — ``{name: options}``; ``bottleneck_weight``
      scales the bottlenecks' own losses.
    - ``regularizers`` — ``{REGULARIZERS name: options}``; ``callbacks`` — ``{CALLBACKS name: options}``
      (extension points, see :mod:`laserlab.train.losses` and :mod:`laserlab.train.callbacks`).
    - ``spectral`` — :class:`SpectralConfig` (phase 1 truncation curriculum, phase 2 cross-scale penalty);
    - ``resume`` — continue from ``output_dir/checkpoints/last.ckpt`` when it exists.
    """

    model: dict
    output_dir: str
    data: DataConfig = field(default_factory=DataConfig)
    loss: dict = field(default_factory=lambda: {"mse": 1.0})
    loss_options: dict = field(default_factory=dict)
    bottleneck_weight: float = 1.0
    regularizers: dict = field(default_factory=dict)
    callbacks: dict = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    seed: int = 0
    resume: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        if isinstance(values, TrainConfig):
            values.validate()
            return values
        if not isinstance(values, dict):
            raise ValueError(f"config must be a mapping; got {type(values).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in config; valid keys: {valid}")
        missing = [name for name in ("model", "output_dir") if name not in values]
        if missing:
            raise ValueError(f"config is missing required key(s) {missing}; valid keys: {valid}")
        sections = {name: _from_section(kind, values.get(name), name) for name, kind in _SECTIONS.items()}
        config = cls(**{**values, **sections})
        config.validate()
        return config

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist")
        return cls.from_dict(yaml.safe_load(path.read_text()) or {})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        from ..bottlenecks import BOTTLENECKS
        from ..models import MODELS
        from .callbacks import CALLBACKS
        from .losses import LOSSES, REGULARIZERS

        if not isinstance(self.model, dict):
            raise ValueError(f"model must be a mapping with 'name' and 'bottleneck'; got {self.model!r}")
        if self.model.get("name") not in MODELS:
            raise ValueError(f"model.name must be one of {sorted(MODELS)}; got {self.model.get('name')!r}")
        for key in ("bottleneck", "coarse_bottleneck"):
            if key == "coarse_bottleneck" and self.model.get(key) is None:
                continue
            spec = self.model.get(key)
            if not isinstance(spec, dict):
                raise ValueError(
                    f"model.{key} must be a mapping {{name: <bottleneck>, ...options}}; got {spec!r}"
                )
            if spec.get("name") not in BOTTLENECKS:
                raise ValueError(
                    f"model.{key}.name must be one of {sorted(BOTTLENECKS)}; got {spec.get('name')!r}"
                )
        if not isinstance(self.output_dir, str | Path) or not str(self.output_dir):
            raise ValueError(f"output_dir must be a directory path; got {self.output_dir!r}")
        for name, registry, known in (
            ("loss", self.loss, LOSSES),
            ("loss_options", self.loss_options, LOSSES),
            ("regularizers", self.regularizers, REGULARIZERS),
            ("callbacks", self.callbacks, CALLBACKS),
        ):
            if not isinstance(registry, dict):
                raise ValueError(f"{name} must be a mapping {{name: ...}}; got {registry!r}")
            unknown = sorted(set(registry) - set(known))
            if unknown:
                raise ValueError(f"unknown {name} name(s) {unknown}; valid names: {sorted(known)}")
        if not self.loss:
            raise ValueError(f"loss must weight at least one term; valid names: {sorted(LOSSES)}")
        check_number(self.bottleneck_weight, "bottleneck_weight", minimum=0)
        check_nonnegative_int(self.seed, "seed")
        for section in (self.data, self.optimizer, self.trainer, self.spectral):
            section.validate()
        self.spectral.check_window(self.trainer.max_steps)
