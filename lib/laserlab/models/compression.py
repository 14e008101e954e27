"""Learned image codecs: CompressAI's factorized prior and mean-scale hyperprior behind one interface.

A *learned codec model* (:class:`LearnedCodecModel`) is an ``nn.Module`` whose latents are entropy-coded
under learned entropy models (CompressAI's ``EntropyBottleneck`` and ``GaussianConditional``). Every one
has the same five entry points, which the training module, the rate–distortion loss, the codec built from
a checkpoint (:func:`laserlab.codecs.from_checkpoint`) and the spectral curriculum rely on:

- ``forward(images) -> CodecOutput`` — images (B, 3, H, W) in [0, 1], H and W multiples of
  ``size_multiple``; uniform noise stands in for rounding in training mode, rounding (around each entropy
  model's median or mean, as the coder rounds) in eval mode;
- ``compress(images) -> CompressedImages`` — the rANS byte strings of each entropy-coded stream;
- ``decompress(compressed) -> images`` (B, 3, H, W) in [0, 1] — what the decoder reconstructs from them;
- ``update(force=...)`` — recompute the entropy models' quantised CDFs from the weights (needed before
  ``compress``/``decompress``; ``force=True`` after the weights changed);
- ``aux_loss()`` — the auxiliary loss that fits each ``EntropyBottleneck``'s quantiles (its parameters
  are ``aux_parameters()``; train them with their own optimiser, the other parameters with the
  rate–distortion loss).

Rates: ``CodecOutput.bits_per_pixel`` is the per-image *estimate* Σ_streams Σ −log2 likelihood / (H·W)
(likelihoods bounded below by 1e-9). In eval mode it is the ideal code length of exactly the symbols
``compress`` codes; the rANS file is larger by the CDF quantisation loss, escape codes for symbols outside
the tabulated range, and a few bytes of flush per stream.

Models (registered in :data:`laserlab.models.MODELS`):

- ``factorized_prior`` (:class:`FactorizedPrior`, Ballé et al. 2018): ``N`` channels inside the
  transforms, latent y of ``M`` channels at 1/16 of the image, coded under a learned factorized
  density; stream ``"y"``; ``size_multiple`` 16.
- ``mean_scale_hyperprior`` (:class:`MeanScaleHyperprior`, Minnen et al. 2018): y as above, coded under
  Gaussians whose means and scales come from a hyper-latent z (``N`` channels, 1/64 of the image, coded
  under a factorized density); streams ``"y"`` then ``"z"``; ``size_multiple`` 64.

Both wrap CompressAI's classes of the same name (``model.net``: weights, ``compress`` and ``decompress``
are CompressAI's own); CompressAI's models take images in [0, 1] as they are. The wrapper adds laserlab's
conventions: checked inputs, the :class:`CodecOutput` dataclass (with the unquantised latents), and
checkpoints that reload after ``update()`` (the entropy models' table buffers are resized to the stored
ones). CompressAI is imported when a model is built, not when this module is.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..checks import check_images, check_int

#: CompressAI's rANS encoder overruns its buffer on streams of fewer than 4 symbols; every stream of these
#: models has at least one symbol per channel, so channel counts start at 8 (a margin of two)
MIN_CHANNELS = 8
# the table buffers of CompressAI's entropy models, sized by ``update()``
_TABLE_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def compressai_modules():
    """``(compressai.models, compressai.entropy_models)``, imported without CompressAI's
    ``torch.jit.script`` deprecation notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        from compressai import entropy_models, models
    return models, entropy_models


@dataclass
class CodecOutput:
    """What a learned codec model's ``forward`` returns for B images of H×W pixels.

    - ``reconstruction`` — (B, 3, H, W) in [0, 1]: the synthesis output clamped to the image range;
    - ``synthesis`` — (B, 3, H, W): the synthesis transform's output before clamping. The
      rate–distortion loss takes its MSE on this (CompressAI's convention), so a pixel outside [0, 1]
      still gets a gradient back towards its target;
    - ``likelihoods`` — ``{stream: (B, C, h, w)}``, in the model's ``streams`` order: the probability of
      each latent element under its entropy model (noisy elements in training, rounded ones in eval);
    - ``latents`` — the latents the synthesis transform decodes, before quantisation, fine → coarse
      (``[y]`` for single-scale models; side information such as a hyperprior's z is not among them);
    - ``bits_per_pixel`` — (B,) the rate estimate Σ_streams Σ −log2 likelihood / (H·W) of each image,
      differentiable.
    """

    reconstruction: torch.Tensor
    synthesis: torch.Tensor
    likelihoods: dict[str, torch.Tensor]
    latents: list[torch.Tensor]
    bits_per_pixel: torch.Tensor

    def stream_bits_per_pixel(self) -> dict[str, torch.Tensor]:
        """``{stream: (B,)}``: each stream's share of ``bits_per_pixel``."""
        pixels = self.reconstruction.shape[-2] * self.reconstruction.shape[-1]
        return {name: likelihood_bits(lik) / pixels for name, lik in self.likelihoods.items()}


def likelihood_bits(likelihoods: torch.Tensor) -> torch.Tensor:
    """Σ −log2 likelihood per image of a likelihood tensor (B, ...): (B,) bits."""
    return torch.log(likelihoods).flatten(1).sum(1) / -math.log(2)


@dataclass
class CompressedImages:
    """A batch as ``compress`` writes it (CompressAI's ``{"strings", "shape"}``).

    - ``strings`` — ``strings[k][b]``: the rANS bytes of stream k (the model's ``streams`` order) of
      image b;
    - ``shape`` — the latent grid (h, w) decoding starts from: (H, W) / ``size_multiple``.
    """

    strings: list[list[bytes]]
    shape: tuple[int, int]


class LearnedCodecModel(nn.Module, ABC):
    """Base of the learned codec models: the interface described in the module docstring.

    Subclasses set ``streams`` (stream names in coding order), implement ``size_multiple``,
    ``latent_channels``, ``forward``, ``compress`` and ``decompress``; ``update``, ``aux_loss`` and
    ``aux_parameters`` act on every CompressAI entropy model inside.
    """

    streams: tuple[str, ...]

    def __init__(self) -> None:
        super().__init__()
        self._register_load_state_dict_pre_hook(self._resize_tables, with_module=False)

    @property
    @abstractmethod
    def size_multiple(self) -> int:
        """Image height and width must be multiples of this (the coarsest latent's downsampling)."""

    @property
    @abstractmethod
    def latent_channels(self) -> list[int]:
        """Channels of each entry of ``CodecOutput.latents``, fine → coarse."""

    @abstractmethod
    def forward(self, images: torch.Tensor) -> CodecOutput: ...

    @abstractmethod
    def compress(self, images: torch.Tensor) -> CompressedImages: ...

    @abstractmethod
    def decompress(self, compressed: CompressedImages) -> torch.Tensor: ...

    def check_input(self, images: torch.Tensor, name: str = "images") -> None:
        """``images`` must be (B, 3, H, W) in [0, 1] with H and W multiples of ``size_multiple``."""
        check_images(images.detach() if isinstance(images, torch.Tensor) else images, name)
        multiple = self.size_multiple
        if images.shape[-2] % multiple or images.shape[-1] % multiple or min(images.shape[-2:]) == 0:
            raise ValueError(
                f"{name} height and width must be positive multiples of {multiple} for "
                f"{type(self).__name__} (its coarsest latent is {multiple}× smaller); got "
                f"{tuple(images.shape[-2:])}. Pad them, or code them with laserlab.codecs "
                "(learned codecs pad and crop themselves)"
            )

    def _entropy_models(self) -> list[nn.Module]:
        _, entropy_models = compressai_modules()
        return [m for m in self.modules() if isinstance(m, entropy_models.EntropyModel)]

    def scale_table(self) -> torch.Tensor:
        """The ascending scales whose quantised CDFs ``update`` tabulates for every
        ``GaussianConditional`` (the coder codes each element under the smallest tabulated scale at or
        above its predicted one): CompressAI's 64 scales log-spaced from 0.11 to 256."""
        models, _ = compressai_modules()
        return models.base.get_scale_table()

    def update(self, *, force: bool = False) -> bool:
        """Tabulate every entropy model's quantised CDFs from the current weights (CompressAI's
        ``update``; Gaussian conditionals at the scales of :meth:`scale_table`); without ``force`` only
        models never updated are. True when any table changed."""
        _, entropy_models = compressai_modules()
        updated = False
        for module in self._entropy_models():
            if isinstance(module, entropy_models.EntropyBottleneck):
                updated |= module.update(force=force)
            elif isinstance(module, entropy_models.GaussianConditional):
                updated |= module.update_scale_table(self.scale_table(), force=force)
        return updated

    def aux_loss(self) -> torch.Tensor:
        """Σ over ``EntropyBottleneck``\\s of their quantile loss (a scalar; gradients reach only the
        ``aux_parameters``)."""
        _, entropy_models = compressai_modules()
        bottlenecks = [m for m in self.modules() if isinstance(m, entropy_models.EntropyBottleneck)]
        return sum((m.loss() for m in bottlenecks), torch.zeros((), device=self._device()))

    def aux_parameters(self) -> list[nn.Parameter]:
        """The parameters ``aux_loss`` trains: each ``EntropyBottleneck``'s ``quantiles``."""
        _, entropy_models = compressai_modules()
        return [m.quantiles for m in self.modules() if isinstance(m, entropy_models.EntropyBottleneck)]

    def main_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the ``aux_parameters``: what the rate–distortion loss trains."""
        aux = {id(p) for p in self.aux_parameters()}
        return [p for p in self.parameters() if id(p) not in aux]

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _output(self, synthesis, likelihoods: dict[str, torch.Tensor], latents) -> CodecOutput:
        pixels = synthesis.shape[-2] * synthesis.shape[-1]
        bits = sum(likelihood_bits(likelihoods[name]) for name in self.streams)
        return CodecOutput(
            reconstruction=synthesis.clamp(0, 1),
            synthesis=synthesis,
            likelihoods={name: likelihoods[name] for name in self.streams},
            latents=list(latents),
            bits_per_pixel=bits / pixels,
        )

    def check_compressed(self, compressed: CompressedImages) -> None:
        """``compressed`` must hold one list of byte strings per stream, all of one batch size."""
        if not isinstance(compressed, CompressedImages):
            raise TypeError(f"compressed must be CompressedImages; got {type(compressed).__name__}")
        strings = compressed.strings
        if not isinstance(strings, list | tuple) or len(strings) != len(self.streams):
            raise ValueError(
                f"compressed.strings must hold {len(self.streams)} stream(s) {list(self.streams)}; "
                f"got {len(strings) if isinstance(strings, list | tuple) else type(strings).__name__}"
            )
        sizes = {len(stream) for stream in strings}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"every stream must hold one string per image; got lengths {sorted(sizes)}")
        shape = compressed.shape
        if len(shape) != 2 or any(not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"compressed.shape must be a latent grid (h, w) of positive ints; got {shape}")

    def _resize_tables(self, state_dict, prefix, *_) -> None:
        # ``update()`` resizes the entropy models' table buffers; a checkpoint written after it holds
        # tables of other sizes than a fresh model, so resize ours before the values are copied
        for name, module in self.named_modules():
            if not hasattr(module, "_quantized_cdf"):
                continue
            for buffer in _TABLE_BUFFERS:
                key = f"{prefix}{name}.{buffer}" if name else f"{prefix}{buffer}"
                if key in state_dict and isinstance(getattr(module, buffer, None), torch.Tensor):
                    getattr(module, buffer).resize_(state_dict[key].shape)


def _check_channels(N, M) -> None:
    for value, name in ((N, "N"), (M, "M")):
        check_int(value, name, minimum=MIN_CHANNELS)


class _CompressAIModel(LearnedCodecModel):
    """CompressAI's model ``compressai.models.<compressai_class>(N, M)`` as ``self.net``: its own
    ``compress``/``decompress`` and downsampling; one latent y of ``M`` channels."""

    compressai_class: ClassVar[str]

    def __init__(self, *, N: int = 128, M: int = 192):
        super().__init__()
        _check_channels(N, M)
        self.N, self.M = N, M
        models, _ = compressai_modules()
        self.net = getattr(models, self.compressai_class)(N, M)

    @property
    def size_multiple(self) -> int:
        return int(self.net.downsampling_factor)

    @property
    def latent_channels(self) -> list[int]:
        return [self.M]

    def compress(self, images: torch.Tensor) -> CompressedImages:
        """The rANS strings of ``images`` (B, 3, H, W); call ``update()`` first."""
        self.check_input(images)
        out = self.net.compress(images)
        return CompressedImages([list(s) for s in out["strings"]], tuple(int(s) for s in out["shape"]))

    def decompress(self, compressed: CompressedImages) -> torch.Tensor:
        """The images (B, 3, h·m, w·m) in [0, 1] that ``compressed`` defines (m = ``size_multiple``)."""
        self.check_compressed(compressed)
        strings = [list(stream) for stream in compressed.strings]
        return self.net.decompress(strings, list(compressed.shape))["x_hat"]


class FactorizedPrior(_CompressAIModel):
    """Ballé et al. (2018) factorized prior, CompressAI's ``FactorizedPrior(N, M)`` as ``self.net``.

    ``N``: channels inside the analysis and synthesis transforms; ``M``: latent channels (both ≥ 8).
    Stream ``"y"``; image sides multiples of 16. CompressAI's zoo uses N, M = 128, 192.
    """

    compressai_class = "FactorizedPrior"
    streams = ("y",)

    def forward(self, images: torch.Tensor) -> CodecOutput:
        """See :class:`CodecOutput`; CompressAI's ``FactorizedPrior.forward``, keeping y."""
        self.check_input(images)
        net = self.net
        y = net.g_a(images)
        y_hat, y_likelihoods = net.entropy_bottleneck(y)
        return self._output(net.g_s(y_hat), {"y": y_likelihoods}, [y])


class MeanScaleHyperprior(_CompressAIModel):
    """Minnen et al. (2018) mean-scale hyperprior, CompressAI's ``MeanScaleHyperprior(N, M)`` as
    ``self.net``.

    ``N``: channels inside the transforms and of the hyper-latent z; ``M``: latent channels (both ≥ 8).
    Streams ``"y"`` (Gaussian conditionals) and ``"z"`` (factorized); image sides multiples of 64.
    CompressAI's zoo uses N, M = 128, 192 (quality 1–5) and 192, 320 (6–8).
    """

    compressai_class = "MeanScaleHyperprior"
    streams = ("y", "z")

    def forward(self, images: torch.Tensor) -> CodecOutput:
        """See :class:`CodecOutput`; CompressAI's ``MeanScaleHyperprior.forward``, keeping y."""
        self.check_input(images)
        net = self.net
        y = net.g_a(images)
        z = net.h_a(y)
        z_hat, z_likelihoods = net.entropy_bottleneck(z)
        scales_hat, means_hat = net.h_s(z_hat).chunk(2, 1)
        y_hat, y_likelihoods = net.gaussian_conditional(y, scales_hat, means=means_hat)
        return self._output(net.g_s(y_hat), {"y": y_likelihoods, "z": z_likelihoods}, [y])
