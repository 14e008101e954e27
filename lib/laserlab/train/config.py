"""Training configuration: a dataclass per section, built from a plain dict (or a YAML file) with checks.

``TrainConfig.from_dict(d)`` rejects unknown keys (listing the valid ones), missing required keys
(``model`` and ``output_dir``), unknown registry names (model, bottleneck, dataset, loss, regularizer,
callback) and options a registered thing does not take (checked against its constructor), each error
naming the key path, e.g. ``data.name``. A wrong type is a ``TypeError``, a wrong value a ``ValueError``.
Every config object validates itself when it is built (``TrainConfig(...)``, a section such as
``TrainerConfig(...)``, ``from_dict``, ``with_overrides``): Lightning's trainer options against the values
Lightning accepts (listed in the error), and the model's values by building it on the ``meta`` device (no
memory, no weights), so ``num_codes: -1`` fails here rather than inside ``fit``.

Example (YAML)::

    output_dir: runs/vq
    seed: 0
    model: {name: autoencoder, latent_dim: 64, downsample: 4,
            bottleneck: {name: vq, num_codes: 256, ema_decay: 0.99, kmeans_init: true}}
    data: {name: samples, image_size: 64, batch_size: 16}
    loss: {mse: 1.0, dct: 0.1, gradient: 0.1}
    optimizer: {lr: 2.0e-4}
    trainer: {max_steps: 2000}

In Python, :func:`recipe` starts from defaults suited to a notebook run and :meth:`TrainConfig.with_overrides`
derives variants, each writing only what differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..bottlenecks import BOTTLENECKS
from ..checks import (
    check_bool,
    check_choice,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from ..data import DATASETS
from ..models import MODELS, LearnedCodecModel, build_model
from ..registry import check_options
from ..spectral.truncation import check_kind, check_tau
from .callbacks import CALLBACKS
from .losses import LOSSES, REGULARIZERS


def lightning_choices() -> tuple[list[str], list[str], tuple]:
    """What Lightning's ``Trainer`` accepts: accelerator names, strategy names and precision values."""
    from typing import get_args

    from lightning.fabric.plugins.precision.precision import (
        _PRECISION_INPUT_INT,
        _PRECISION_INPUT_STR,
        _PRECISION_INPUT_STR_ALIAS,
    )
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    accelerators = ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]
    strategies = ["auto", *StrategyRegistry.available_strategies()]
    precisions = (
        get_args(_PRECISION_INPUT_STR) + get_args(_PRECISION_INPUT_STR_ALIAS) + get_args(_PRECISION_INPUT_INT)
    )
    return accelerators, strategies, precisions


def _check_devices(devices) -> None:
    """Lightning's ``devices``: an int >= 1 (how many) or -1 (all), "auto", a list of distinct device
    indices >= 0, or such a list / count written as a string ("0,1", "2", "-1")."""
    expected = (
        'an int >= 1 (how many), -1 (all), "auto", a list of device indices >= 0, or such a list as a '
        'string ("0,1")'
    )
    if isinstance(devices, bool) or not isinstance(devices, int | str | list | tuple):
        raise TypeError(f"trainer.devices must be {expected}; got {devices!r}")
    if devices == "auto":
        return
    if isinstance(devices, str):
        parts = [part.strip() for part in devices.split(",") if part.strip()]
        if not parts or not all(part.lstrip("-").isdigit() for part in parts):
            raise ValueError(f"trainer.devices must be {expected}; got {devices!r}")
        values = [int(part) for part in parts]
        devices = values[0] if len(values) == 1 and "," not in devices else values
    if isinstance(devices, int):
        if devices == 0 or devices < -1:
            raise ValueError(f"trainer.devices must be {expected}; got {devices!r}")
        return
    if not devices or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices):
        raise ValueError(f"trainer.devices must be {expected}; got {devices!r}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"trainer.devices must list each device once; got {devices!r}")


def _check_model_values(name: str, keywords: dict) -> None:
    """Build the model on the ``meta`` device (shapes only: no memory, no data) so that its constructor
    and its bottlenecks' check every value; their ``TypeError`` / ``ValueError`` is re-raised naming the
    model. A constructor that cannot run on ``meta`` at all (it reads a tensor's values) is left to
    :func:`~laserlab.train.fit`, which builds it for real."""
    try:
        with torch.device("meta"):
            build_model(name, **keywords)
    except (TypeError, ValueError) as error:
        raise type(error)(f"model {name!r}: {error}") from None
    except (RuntimeError, NotImplementedError):
        pass


def _check_mapping(values, path: str, expected: str = "a mapping of options") -> None:
    if not isinstance(values, dict):
        raise TypeError(f"{path} must be {expected}; got {values!r} ({type(values).__name__})")


def _from_section(cls, values, path: str):
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    _check_mapping(values, path)
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {path}; valid keys: {valid}")
    return cls(**values)


def learned_codec_models() -> list[str]:
    """The :data:`laserlab.models.MODELS` names whose models are learned codecs
    (:class:`~laserlab.models.LearnedCodecModel`: they train on the ``rate_distortion`` loss)."""
    return sorted(
        name
        for name, entry in MODELS.items()
        if isinstance(entry, type) and issubclass(entry, LearnedCodecModel)
    )


@dataclass
class ModelConfig:
    """The ``model`` section: a :data:`laserlab.models.MODELS` ``name``, the ``bottleneck`` spec
    ``{"name": <bottleneck>, **options}`` (``None`` for a model without one) and the model's other keyword
    ``options`` (``latent_dim``, ``width``, ``downsample``, a hierarchical model's ``coarse_bottleneck``...).

    Written flat in YAML and dicts — ``{name: autoencoder, latent_dim: 64, bottleneck: {name: vq}}`` —
    by :meth:`from_dict` / :meth:`to_dict`. :meth:`validate` (run when the section is built) checks the
    options against the model's constructor (and every ``bottleneck`` / ``*_bottleneck`` spec against its
    bottleneck's), listing the valid ones, then the values by building the model on the ``meta`` device.
    """

    name: str
    bottleneck: dict | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, values) -> ModelConfig:
        if isinstance(values, ModelConfig):
            return values
        _check_mapping(values, "model", "a mapping {name: <model>, bottleneck: {...}, ...options}")
        if "name" not in values:
            raise ValueError(f"model needs a 'name', one of {MODELS.names()}; got {values!r}")
        options = dict(values)
        return cls(options.pop("name"), options.pop("bottleneck", None), options)

    def to_dict(self) -> dict[str, Any]:
        """The flat form :meth:`from_dict` reads."""
        return {"name": self.name, **self.keywords()}

    def keywords(self) -> dict[str, Any]:
        """The constructor's keyword options: ``options`` plus ``bottleneck`` when given."""
        return {**self.options, **({} if self.bottleneck is None else {"bottleneck": self.bottleneck})}

    def validate(self) -> None:
        MODELS.check(self.name, "model.name")
        _check_mapping(self.options, "model.options")
        clashes = sorted({"name", "bottleneck"} & set(self.options))
        if clashes:
            raise ValueError(f"model.options must not repeat {clashes}; they are fields of the model section")
        keywords = self.keywords()
        for key, spec in keywords.items():
            if (key == "bottleneck" or key.endswith("_bottleneck")) and spec is not None:
                _check_mapping(spec, f"model.{key}", "a mapping {name: <bottleneck>, ...options}")
                options = dict(spec)
                name = options.pop("name", None)
                BOTTLENECKS.check(name, f"model.{key}.name")
                check_options(BOTTLENECKS[name], options, f"model.{key} ({name!r})", provided=("dim",))
        MODELS.check_options(self.name, keywords)
        _check_model_values(self.name, keywords)

    def build(self) -> nn.Module:
        """The model, ``laserlab.models.build_model(name, **keywords())``."""
        return build_model(self.name, **self.keywords())

    @property
    def is_learned_codec(self) -> bool:
        """Whether the model is a learned codec (a :class:`~laserlab.models.LearnedCodecModel`)."""
        return self.name in learned_codec_models()


@dataclass
class DataConfig:
    """``name``: a :data:`laserlab.data.DATASETS` key; ``options`` go to the dataset (e.g. ``root``)."""

    name: str = "samples"
    image_size: int = 64
    batch_size: int = 16
    num_workers: int = 0
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        DATASETS.check(self.name, "data.name")
        check_positive_int(self.image_size, "data.image_size")
        check_positive_int(self.batch_size, "data.batch_size")
        check_nonnegative_int(self.num_workers, "data.num_workers")
        _check_mapping(self.options, "data.options")
        DATASETS.check_options(
            self.name,
            self.options,
            provided=("split", "image_size", "seed"),
            what=f"data.options of dataset {self.name!r}",
        )


@dataclass
class OptimizerConfig:
    """AdamW options; ``aux_lr`` is the learning rate of a learned codec's auxiliary optimiser (Adam on
    the entropy bottlenecks' quantiles; unused by other models)."""

    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    aux_lr: float = 1e-3

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_number(self.lr, "optimizer.lr", minimum=0, exclusive=True)
        check_number(self.aux_lr, "optimizer.aux_lr", minimum=0, exclusive=True)
        check_number(self.weight_decay, "optimizer.weight_decay", minimum=0)
        expected = "a pair [beta1, beta2] of numbers in [0, 1)"
        if not isinstance(self.betas, list | tuple):
            raise TypeError(f"optimizer.betas must be {expected}; got {self.betas!r}")
        if len(self.betas) != 2:
            raise ValueError(f"optimizer.betas must be {expected}; got {self.betas!r}")
        for index, beta in enumerate(self.betas):
            name = f"optimizer.betas[{index}]"
            check_number(beta, name, minimum=0, maximum=1)
            if beta == 1:
                raise ValueError(f"{name} must be a number in [0, 1) (1 never forgets); got {beta!r}")
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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in (
            "max_steps",
            "num_nodes",
            "log_every_n_steps",
            "check_val_every_n_epoch",
            "checkpoint_every_n_epochs",
            "accumulate_grad_batches",
        ):
            check_positive_int(getattr(self, name), f"trainer.{name}")
        check_bool(self.progress_bar, "trainer.progress_bar")
        if self.gradient_clip_val is not None:
            check_number(self.gradient_clip_val, "trainer.gradient_clip_val", minimum=0)
        if self.deterministic not in (True, False, "warn", "auto"):
            raise ValueError(
                f"trainer.deterministic must be true, false, 'warn' or 'auto'; got {self.deterministic!r}"
            )
        accelerators, strategies, precisions = lightning_choices()
        for name, choices in (("accelerator", accelerators), ("strategy", strategies)):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"trainer.{name} must be one of {choices}; got {getattr(self, name)!r}")
            check_choice(getattr(self, name), f"trainer.{name}", choices)
        check_choice(self.precision, "trainer.precision", precisions)
        _check_devices(self.devices)
        limit = self.limit_val_batches
        expected = "an int >= 0 (batches) or a float in [0, 1] (a fraction of the validation set)"
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise TypeError(f"trainer.limit_val_batches must be {expected}; got {limit!r}")
        if not (limit >= 0 if isinstance(limit, int) else 0 <= limit <= 1):  # also rejects NaN
            raise ValueError(f"trainer.limit_val_batches must be {expected}; got {limit!r}")


@dataclass
class SpectralConfig:
    """Spectral regularisation for hierarchical codecs (:mod:`laserlab.spectral`, Cong et al. 2026).

    - ``phase1`` — the DCT truncation curriculum (:class:`~laserlab.spectral.SpectralTruncation`): τ from
      ``tau_init`` to ``tau_final`` linearly over ``epochs`` epochs — or over ``steps`` optimiser steps when
      given (a deviation for step-budgeted runs) — then off; mask ``kind``; ``input_only`` keeps clean
      targets (ablation).
    - ``phase2`` — the cross-scale penalty (:class:`~laserlab.spectral.CrossScalePenalty`) between the
      model's latents (needs a model with two or more, e.g. ``hierarchical``): codec pushed by gradient
      reversal scaled by ``delta``; latents RMS-normalised when ``normalize``. It is the regulariser
      ``cross_scale`` (:data:`~laserlab.train.REGULARIZERS`) with these options; this switch adds it. With
      phase 1 on, the codec feels it only after phase 1's window (its predictor learns throughout);
      logged as ``cross_scale`` and, being the predictor's loss, part of ``loss``;
      ``trainer.gradient_clip_val`` clips the joint norm of codec and predictor gradients. During the
      window the training quality metrics (``train/mse``, ``train/psnr``) compare with the truncated
      targets; validation always uses clean images.
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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("phase1", "phase2", "input_only", "normalize"):
            check_bool(getattr(self, name), f"spectral.{name}")
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

    - ``model`` — :class:`ModelConfig` (``name``, ``bottleneck``, shape options; flat in YAML).
    - ``loss`` — ``{LOSSES name: weight}`` (default ``{"mse": 1.0}``, for a learned codec
      ``{"rate_distortion": 1.0}``, which such models require); ``loss_options`` — ``{name: options}``;
      ``bottleneck_weight`` scales the bottlenecks' own losses.
    - ``regularizers`` — ``{REGULARIZERS name: options}``; ``callbacks`` — ``{CALLBACKS name: options}``
      (extension points, see :mod:`laserlab.train.losses` and :mod:`laserlab.train.callbacks`).
    - ``spectral`` — :class:`SpectralConfig` (phase 1 truncation curriculum, phase 2 cross-scale penalty);
    - ``resume`` — continue from ``output_dir/checkpoints/last.ckpt`` when it exists.
    """

    model: ModelConfig
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

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        if isinstance(values, TrainConfig):
            values.validate()
            return values
        _check_mapping(values, "config", "a mapping of sections")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in config; valid keys: {valid}")
        missing = [name for name in ("model", "output_dir") if name not in values]
        if missing:
            raise ValueError(f"config is missing required key(s) {missing}; valid keys: {valid}")
        sections = {name: _from_section(kind, values.get(name), name) for name, kind in _SECTIONS.items()}
        model = ModelConfig.from_dict(values["model"])
        if "loss" not in values and model.is_learned_codec:
            values = {**values, "loss": {"rate_distortion": 1.0}}
        return cls(**{**values, **sections, "model": model})

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        import yaml

        path = Path(path)
        if not path.exists():
            raise ValueError(f"config file {str(path)!r} does not exist")
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} is not a file")
        try:
            values = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"config file {str(path)!r} cannot be read: {error}") from None
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"config file {str(path)!r} is not valid YAML{at}: {problem}") from None
        return cls.from_dict(values or {})

    def to_dict(self) -> dict[str, Any]:
        """The plain dict :meth:`from_dict` reads (the model section flat, as in YAML)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values = {
            name: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            for name, value in values.items()
        }
        return {**values, "model": self.model.to_dict()}

    def with_overrides(self, **changes) -> TrainConfig:
        """A new validated config: this one with ``changes`` merged in, one level deep.

        A mapping given for a section (``model``, ``data``, ``trainer``, ``loss``, ...) updates that
        section key by key; anything else — including a mapping *inside* a section, such as
        ``model.bottleneck`` or ``data.options`` — replaces the old value. E.g.
        ``config.with_overrides(output_dir="runs/b", model={"bottleneck": {"name": "vq"}}, seed=1)``.
        """
        values = self.to_dict()
        for name, value in changes.items():
            current = values.get(name)
            values[name] = (
                {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
            )
        return TrainConfig.from_dict(values)

    def regularizer_specs(self) -> dict[str, dict]:
        """``{REGULARIZERS name: options}`` to build: ``regularizers`` plus, with ``spectral.phase2``,
        ``cross_scale`` with ``spectral.delta`` and ``spectral.normalize``."""
        specs = {name: dict(options or {}) for name, options in self.regularizers.items()}
        if self.spectral.phase2:
            specs["cross_scale"] = {"delta": self.spectral.delta, "normalize": self.spectral.normalize}
        return specs

    def validate(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig; got {type(self.model).__name__}")
        self.model.validate()
        if not isinstance(self.output_dir, str | Path):
            raise TypeError(f"output_dir must be a directory path; got {self.output_dir!r}")
        if not str(self.output_dir):
            raise ValueError("output_dir must be a directory path; got ''")
        for name in ("loss", "loss_options", "regularizers", "callbacks"):
            _check_mapping(getattr(self, name), name, "a mapping {name: ...}")
        if not self.loss:
            raise ValueError(f"loss must weight at least one term of {LOSSES.names()}; got {{}}")
        for name, weight in self.loss.items():
            LOSSES.check(name)
            check_number(weight, f"loss.{name}", minimum=0)
        for name, options in self.loss_options.items():
            LOSSES.check(name)
            if name not in self.loss:
                raise ValueError(
                    f"loss_options given for {name!r}, which has no weight in loss {sorted(self.loss)}"
                )
            _check_mapping(options, f"loss_options.{name}")
            LOSSES.check_options(name, options, what=f"loss_options.{name}")
        if self.spectral.phase2 and "cross_scale" in self.regularizers:
            raise ValueError(
                "the cross-scale penalty is given twice: spectral.phase2 adds regularizer 'cross_scale' "
                "with spectral.delta and spectral.normalize; drop one of them"
            )
        for registry, section in ((REGULARIZERS, "regularizers"), (CALLBACKS, "callbacks")):
            for name, options in getattr(self, section).items():
                registry.check(name)
                if options is not None:
                    _check_mapping(options, f"{section}.{name}")
                provided = ("model",) if section == "regularizers" else ()
                registry.check_options(name, options or {}, provided=provided, what=f"{section}.{name}")
        check_number(self.bottleneck_weight, "bottleneck_weight", minimum=0)
        check_nonnegative_int(self.seed, "seed")
        check_bool(self.resume, "resume")
        for section in (self.data, self.optimizer, self.trainer, self.spectral):
            section.validate()
        self.spectral.check_window(self.trainer.max_steps)
        self._check_rate_distortion()

    def _check_rate_distortion(self) -> None:
        """Learned codecs train on the ``rate_distortion`` loss, and only they can."""
        codec = self.model.is_learned_codec
        weight = self.loss.get("rate_distortion", 0)
        if codec and not weight > 0:
            raise ValueError(
                f"model {self.model.name!r} is a learned codec: loss must weight 'rate_distortion' "
                "(λ·255²·MSE + bpp; set λ with loss_options: {rate_distortion: {lmbda: ...}}); got loss "
                f"{self.loss}"
            )
        if "rate_distortion" in self.loss and not codec:
            codecs = learned_codec_models()
            raise ValueError(
                f"loss 'rate_distortion' needs a learned codec model (model.name one of {codecs}); "
                f"model {self.model.name!r} has no entropy model"
            )
        if codec:
            LOSSES.build("rate_distortion", **self.loss_options.get("rate_distortion", {}))  # checks lmbda
            if str(self.trainer.precision).startswith("16"):
                raise ValueError(
                    f"trainer.precision {self.trainer.precision!r} is not supported for learned codecs: "
                    "fp16 loss scaling would also scale the auxiliary loss's gradients, which the auxiliary "
                    "optimiser does not unscale; use '32-true' or 'bf16-mixed'"
                )


#: what :func:`recipe` starts from, besides the ``TrainConfig`` defaults: a fresh, quiet run
RECIPE_DEFAULTS: dict[str, Any] = {
    "resume": False,
    "trainer": {"progress_bar": False, "log_every_n_steps": 5},
}


def recipe(output_dir: str | Path, *, model: dict, **overrides) -> TrainConfig:
    """A validated :class:`TrainConfig` for a run in ``output_dir`` of ``model`` (the flat model section),
    from the ``TrainConfig`` defaults and :data:`RECIPE_DEFAULTS` (no resume, no progress bar, logs every
    5 steps) with ``overrides`` merged in as by :meth:`TrainConfig.with_overrides`, e.g.::

        recipe("runs/vq", model={"name": "autoencoder", "bottleneck": {"name": "vq"}},
               data={"image_size": 32}, trainer={"max_steps": 150}, seed=1)
    """
    base = TrainConfig.from_dict({"model": model, "output_dir": str(output_dir)})
    return base.with_overrides(**RECIPE_DEFAULTS).with_overrides(**overrides)
