"""Training objectives for autoencoders and learned codecs: named terms, weighted, the same in training
and validation.

Every image term is a module ``forward(reconstruction, target) -> (B,)`` on images in [0, 1]
(B, 3, H, W), one value per image, so any distortion module of the library plugs in unchanged
(``LPIPS``, ``WassersteinDistortion``); a term that needs more of the model output than the
reconstruction (the rate) is an :class:`OutputLoss`, ``forward(output, target) -> (B,)``.
:class:`Objective` takes the batch mean of each, multiplies by its weight, adds an autoencoder's
bottleneck losses (term ``"bottleneck"``) and any regulariser terms, and returns a :class:`LossTerms`.

Registry ``LOSSES`` (config key ``loss``: ``{name: weight}``, options under ``loss_options``; built by
``LOSSES.build(name, **options)``, options checked against the ones listed here):

- ``mse`` / ``l1`` — pixel mean squared / absolute error.
- ``dct`` — :func:`multiresolution_dct_loss`: mean |log(|C(x̂)| + ε) − log(|C(x)| + ε)| of orthonormal
  whole-image DCT-II coefficients at several 2× average-pooled resolutions. Log-magnitude compares the
  spectra's shape across frequencies whose energies span decades; ε = 1e-2 (options ``epsilon``) is about
  a coefficient of 1 % contrast noise, so near-zero coefficients, whose sign and log are noise, cannot
  dominate the gradient (|∂/∂C| ≤ 1/ε).
- ``gradient`` — :func:`multiresolution_gradient_loss`: mean absolute difference of horizontal and
  vertical finite differences at several resolutions (edge sharpness).
- ``lpips`` — :class:`laserlab.perceptual.LPIPS` (options ``net``, ``version``, ``weights``), frozen.
- ``wasserstein`` — :class:`laserlab.perceptual.WassersteinDistortion` (options ``features``,
  ``num_levels``, ``weights``, ...) with the sigma map ``sigma``, a spec ``{"name": <sigma map>,
  **options}`` for :func:`laserlab.perceptual.sigma.build`, e.g. ``{"name": "foveated", "size": 64,
  "radius": 6}`` (lengths in pixels of the map's grid; give the training image size to mean image pixels).
- ``rate_distortion`` — :class:`RateDistortionLoss`, for learned codecs
  (:class:`~laserlab.models.CodecOutput`): λ·255²·MSE + bpp per image, CompressAI's convention (option
  ``lmbda``, default 0.013).

**Regularisers** (the extension point for penalties on the model output, e.g. spectral penalties on
``output.latents``): a module ``forward(output, images) -> dict[str, Tensor]`` (``output`` an
:class:`~laserlab.models.AutoencoderOutput` or :class:`~laserlab.models.CodecOutput`) of
named scalar terms, already weighted, registered in ``REGULARIZERS`` (config key ``regularizers``:
``{name: options}``) or passed to :class:`Objective` directly. Their terms are added to the total and
logged under their names. A regulariser is built for a model, ``REGULARIZERS.build(name, model=model,
**options)``: ``cross_scale`` (phase 2 of spectral regularisation, also switched on by the config's
``spectral.phase2``) reads the model's latent channels.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_number, check_positive_int, check_same_shape
from ..models import AutoencoderOutput, CodecOutput
from ..perceptual import LPIPS, WassersteinDistortion
from ..perceptual import sigma as sigma_maps
from ..registry import Registry
from ..spectral import CrossScalePenalty, dct_2d

#: ε of the DCT log-magnitude (orthonormal coefficients of [0, 1] images)
DCT_EPSILON = 1e-2


def _check_scales(scales) -> tuple[int, ...]:
    if not isinstance(scales, list | tuple) or not scales:
        raise ValueError(f"scales must be a non-empty list of pooling factors (1, 2, 4, ...); got {scales!r}")
    for s in scales:
        check_positive_int(s, "scales[i]")
    return tuple(scales)


def _pooled(x: torch.Tensor, factor: int) -> torch.Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


def multiresolution_dct_loss(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    *,
    scales: tuple[int, ...] = (1, 2, 4),
    epsilon: float = DCT_EPSILON,
) -> torch.Tensor:
    """Per-image (B,) mean over scales of mean |log(|DCT(x̂↓s)| + ε) − log(|DCT(x↓s)| + ε)|.

    ``x↓s`` is ``avg_pool2d(x, s)``; DCT is the orthonormal whole-image DCT-II per channel
    (:func:`laserlab.spectral.dct_2d`). Both inputs (B, C, H, W); H and W divisible by every scale.
    """
    check_same_shape(reconstruction, target, "reconstruction", "target")
    check_number(epsilon, "epsilon", minimum=0, exclusive=True)
    terms = []
    for s in _check_scales(scales):
        a = dct_2d(_pooled(reconstruction, s)).abs().add(epsilon).log()
        b = dct_2d(_pooled(target, s)).abs().add(epsilon).log()
        terms.append((a - b).abs().flatten(1).mean(1))
    return torch.stack(terms).mean(0)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences (vertical (B, C, H−1, W), horizontal (B, C, H, W−1)) of x (B, C, H, W)."""
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def multiresolution_gradient_loss(
    reconstruction: torch.Tensor, target: torch.Tensor, *, scales: tuple[int, ...] = (1, 2, 4)
) -> torch.Tensor:
    """Per-image (B,) mean over scales of the mean absolute difference of image gradients at that scale."""
    check_same_shape(reconstruction, target, "reconstruction", "target")
    terms = []
    for s in _check_scales(scales):
        (ay, ax), (by, bx) = image_gradients(_pooled(reconstruction, s)), image_gradients(_pooled(target, s))
        terms.append(((ay - by).abs().flatten(1).mean(1) + (ax - bx).abs().flatten(1).mean(1)) / 2)
    return torch.stack(terms).mean(0)


class _PerImage(nn.Module):
    """A per-image (B,) loss from a function of (reconstruction, target) with fixed options."""

    def __init__(self, function: Callable[..., torch.Tensor], **options):
        super().__init__()
        self.function, self.options = function, options
        if options:
            function(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), **options)  # validate options now

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.function(reconstruction, target, **self.options)

    def extra_repr(self) -> str:
        return f"{self.function.__name__}, {self.options}"


def _options_from(source: Callable, *, drop=(), extra: tuple[inspect.Parameter, ...] = ()):
    """Decorator: the factory's signature becomes ``source``'s keyword options (less ``drop``, plus
    ``extra``), so :meth:`Registry.build` and the config check them before anything is built."""
    parameters = [
        p.replace(kind=p.KEYWORD_ONLY)
        for p in inspect.signature(source).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in drop
    ]

    def decorate(factory: Callable) -> Callable:
        factory.__signature__ = inspect.Signature([*extra, *parameters])
        return factory

    return decorate


def _per_image(function: Callable[..., torch.Tensor]) -> Callable[..., nn.Module]:
    @_options_from(function, drop=("reconstruction", "target"))
    def make(**options) -> nn.Module:
        return _PerImage(function, **options)

    return make


def _mse(reconstruction, target):
    return (reconstruction - target).square().flatten(1).mean(1)


def _l1(reconstruction, target):
    return (reconstruction - target).abs().flatten(1).mean(1)


@_options_from(LPIPS)
def _lpips(**options) -> nn.Module:
    return LPIPS(**options).requires_grad_(False)


@_options_from(
    WassersteinDistortion,
    drop=("log2_sigma",),
    extra=(inspect.Parameter("sigma", inspect.Parameter.KEYWORD_ONLY),),
)
def _wasserstein(*, sigma: dict, **options) -> nn.Module:
    if not isinstance(sigma, dict) or "name" not in sigma:
        raise TypeError(
            f"sigma must be a mapping {{'name': <sigma map>, ...options}} for perceptual.sigma.build, "
            f"e.g. {{'name': 'constant', 'size': 64, 'value': 2}}; got {sigma!r}"
        )
    spec = dict(sigma)
    return WassersteinDistortion(sigma_maps.build(spec.pop("name"), **spec), **options)


class OutputLoss(nn.Module):
    """A loss term on the whole model output: ``forward(output, target) -> (B,)`` (the
    :class:`Objective` hands it the output instead of the reconstruction)."""


class RateDistortionLoss(OutputLoss):
    """λ·255²·MSE + bpp per image (B,), CompressAI's rate–distortion loss for learned codecs.

    MSE is taken on [0, 1] images between the unclamped synthesis output and the target
    (``CodecOutput.synthesis``), bpp is the likelihood estimate ``CodecOutput.bits_per_pixel``
    (Σ over streams of −log2 likelihood / (H·W)); the batch mean is CompressAI's
    ``λ·255²·mse + Σ −log2(likelihoods) / (B·H·W)``. CompressAI's quality ladder: λ = 0.0018, 0.0035,
    0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18.
    """

    def __init__(self, *, lmbda: float = 0.013):
        super().__init__()
        check_number(lmbda, "lmbda", minimum=0, exclusive=True)
        self.lmbda = float(lmbda)

    def forward(self, output: CodecOutput, target: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, CodecOutput):
            raise TypeError(
                "the rate_distortion loss needs a learned codec's CodecOutput (likelihoods); got "
                f"{type(output).__name__}"
            )
        check_same_shape(output.synthesis, target, "synthesis", "target")
        mse = (output.synthesis - target).square().flatten(1).mean(1)
        return self.lmbda * 255**2 * mse + output.bits_per_pixel

    def extra_repr(self) -> str:
        return f"lmbda={self.lmbda:g}"


#: name → factory(**options) → module(reconstruction, target) -> (B,), or an OutputLoss
LOSSES: Registry[Callable[..., nn.Module]] = Registry(
    "loss",
    {
        "mse": _per_image(_mse),
        "l1": _per_image(_l1),
        "dct": _per_image(multiresolution_dct_loss),
        "gradient": _per_image(multiresolution_gradient_loss),
        "lpips": _lpips,
        "wasserstein": _wasserstein,
        "rate_distortion": RateDistortionLoss,
    },
)


class LatentPenalty(nn.Module):
    """A penalty on the model's latents as a regulariser: ``{name: penalty(output.latents)}``.

    ``penalty`` maps the list of latents (fine → coarse) to a scalar, e.g.
    :class:`laserlab.spectral.CrossScalePenalty`.
    """

    def __init__(self, name: str, penalty: nn.Module):
        super().__init__()
        self.name, self.penalty = name, penalty

    def forward(
        self, output: AutoencoderOutput | CodecOutput, images: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {self.name: self.penalty(output.latents)}


#: name → factory(model=, **options) → module(output, images) -> {term: scalar}
REGULARIZERS: Registry[Callable[..., nn.Module]] = Registry("regularizer")


@REGULARIZERS.register("cross_scale")
def cross_scale(*, model: nn.Module, delta: float = 0.1, normalize: bool = True) -> LatentPenalty:
    """Phase 2 of spectral regularisation: :class:`~laserlab.spectral.CrossScalePenalty` between the
    model's latents (``model.latent_channels``, two or more), logged as the term ``cross_scale``."""
    channels = list(model.latent_channels)
    if len(channels) < 2:
        raise ValueError(
            f"the cross-scale penalty (regularizer 'cross_scale', spectral.phase2) needs a model with at "
            f"least two latents (e.g. model.name 'hierarchical'); this model has {len(channels)}: "
            f"latent_channels {channels}"
        )
    return LatentPenalty("cross_scale", CrossScalePenalty(channels, delta=delta, normalize=normalize))


@dataclass
class LossTerms:
    """``total`` (scalar, to minimise) and each weighted scalar term by name (``bottleneck`` included)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class Objective(nn.Module):
    """Σ weight·mean(loss(reconstruction, images)) + bottleneck losses + regulariser terms.

    An :class:`OutputLoss` term is called with the whole output instead of the reconstruction; the term
    ``"bottleneck"`` (an autoencoder's bottleneck losses) exists for
    :class:`~laserlab.models.AutoencoderOutput` only.

    ``weights`` maps :data:`LOSSES` names to non-negative weights (terms with weight 0 are not built);
    ``options`` maps a name to its options (``LOSSES.build(name, **options[name])``);
    ``bottleneck_weight`` scales the bottlenecks' own losses; ``regularizers`` are modules as described in
    the module docstring.
    """

    def __init__(
        self,
        weights: dict[str, float],
        *,
        options: dict[str, dict] | None = None,
        bottleneck_weight: float = 1.0,
        regularizers: dict[str, nn.Module] | None = None,
    ):
        super().__init__()
        options = dict(options or {})
        if not isinstance(weights, dict):
            raise TypeError(f"loss weights must be a dict {{name: weight}}; got {type(weights).__name__}")
        if not weights:
            raise ValueError(f"loss weights must weight at least one of {LOSSES.names()}; got {{}}")
        for name, weight in weights.items():
            LOSSES.check(name)
            check_number(weight, f"loss weight {name!r}", minimum=0)
        unused = sorted(set(options) - set(weights))
        if unused:
            raise ValueError(
                f"loss_options given for {unused}, which have no weight in loss {sorted(weights)}"
            )
        check_number(bottleneck_weight, "bottleneck_weight", minimum=0)
        self.weights = {name: float(w) for name, w in weights.items() if w > 0}
        self.terms = nn.ModuleDict(
            {name: LOSSES.build(name, **options.get(name, {})) for name in self.weights}
        )
        self.bottleneck_weight = float(bottleneck_weight)
        self.regularizers = nn.ModuleDict(regularizers or {})

    def forward(self, output: AutoencoderOutput | CodecOutput, images: torch.Tensor) -> LossTerms:
        terms = {}
        for name, loss in self.terms.items():
            value = (
                loss(output, images) if isinstance(loss, OutputLoss) else loss(output.reconstruction, images)
            )
            terms[name] = self.weights[name] * value.mean()
        if isinstance(output, AutoencoderOutput):
            terms["bottleneck"] = self.bottleneck_weight * output.bottleneck_loss
        for regularizer in self.regularizers.values():
            for name, value in regularizer(output, images).items():
                if name in terms:
                    raise ValueError(f"regularizer term {name!r} clashes with an existing loss term")
                terms[name] = value
        return LossTerms(total=sum(terms.values()), terms=terms)
