"""A top-down hierarchical VAE codec: 2–4 latent scales, each entropy-coded, each feeding the reconstruction.

A small model in the style of QRes-VAE / QARV (Duan et al. 2023) and DHIC (Cong et al. 2026), the
testbed for spectral regularisation (:mod:`laserlab.spectral`). With ``scales`` = S the latents sit at
1/4, 1/8, ..., 1/2^(S+1) of the image (S = 3: 1/4, 1/8, 1/16), each at exactly half the previous one's
height and width, so the cross-scale penalty applies to them as they are.

- **Encoder (bottom-up):** two stride-2 5×5 convolutions to 1/4 and a residual block give the features
  f_0; each further level halves them with a stride-2 3×3 convolution and a residual block (f_1, f_2, ...).
- **Top-down decoder (coarsest first):** the coarsest latent y_{S−1} = posterior(f_{S−1}) is coded under
  a learned factorized density (CompressAI's ``EntropyBottleneck``, rounded around its medians; its
  quantiles train on the auxiliary loss) and starts the decoder state h = block(inject(ŷ_{S−1})). At each
  finer level l the state is upsampled (4×4 transposed convolution, stride 2), a *prior* network maps it to
  the means μ_l and scales σ_l of a Gaussian conditional (CompressAI's ``GaussianConditional``: scales
  bounded below by 0.11, ŷ_l = round(y_l − μ_l) + μ_l in eval and coding, y_l + uniform noise in
  training), the *posterior* y_l = posterior(f_l, h) reads the encoder features and the state, and the
  quantised latent is injected into the state: h = block(h + inject(ŷ_l)). Two 5×5 transposed
  convolutions (stride 2) map the finest state to the image. Every scale's ŷ enters the state, so every
  scale contributes to the reconstruction.
- **Coding:** one rANS stream per scale. ``compress`` runs the same top-down path on the rounded latents,
  so the decoder, which rebuilds each μ_l and σ_l from the coarser scales it has decoded, reproduces the
  eval-mode reconstruction exactly. The Gaussian conditionals are tabulated at 256 scales
  (:data:`SCALE_TABLE_LEVELS`) rather than CompressAI's 64, which keeps the file within about 1–2 % of the
  likelihood estimate.

Streams: ``"s0"`` (the finest latent, 1/4) ... ``"s{S−1}"`` (the coarsest), in the order of
``CodecOutput.latents`` (fine → coarse); the training module logs them as ``bpp_s0``, ``bpp_s1``, ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..checks import check_int
from .blocks import ResidualBlock
from .compression import (
    MIN_CHANNELS,
    CodecOutput,
    CompressedImages,
    LearnedCodecModel,
    compressai_modules,
)

#: the finest latent's downsampling factor (two stride-2 convolutions)
FINEST_DOWNSAMPLE = 4
#: scales tabulated for the Gaussian conditionals' coder, 4× CompressAI's 64: the coder rounds each
#: predicted scale up to the next tabulated one (3 % apart instead of 13 %); on this model's many
#: near-certain fine-scale symbols (σ near its 0.11 floor) the file exceeded the estimate by 2.5–4.5 %
#: with 64 scales, by 1–1.5 % with 256
SCALE_TABLE_LEVELS = 256


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)


def _deconv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """5×5 transposed convolution doubling height and width (CompressAI's ``deconv``)."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2, output_padding=1)


def _latent_channels(M, scales: int) -> list[int]:
    if isinstance(M, list | tuple):
        if len(M) != scales:
            raise ValueError(
                f"M must be an int or a list of {scales} ints (one per scale, fine → coarse); got {list(M)}"
            )
        for value in M:
            check_int(value, "M[i]", minimum=MIN_CHANNELS)
        return list(M)
    check_int(M, "M", minimum=MIN_CHANNELS)
    return [M] * scales


class HierarchicalVAE(LearnedCodecModel):
    """Top-down hierarchical VAE codec with ``scales`` latent scales; see the module docstring.

    Options (keyword-only):

    - ``scales`` — number of latent scales, 2 to 4 (latents at 1/4 ... 1/2^(scales+1) of the image);
    - ``N`` — channels of the encoder features and the decoder state (width), >= 8;
    - ``M`` — latent channels: an int for every scale, or a list of ``scales`` ints fine → coarse;
      each >= 8 (CompressAI's rANS coder needs a few symbols per stream).

    ``size_multiple`` is 2^(scales+1) (8, 16, 32). Streams ``"s0"`` (finest) ... ``"s{scales−1}"``;
    ``latent_channels`` lists ``M`` per scale, fine → coarse. Small widths (N = 16–32, M = 8–16) train
    in a few hundredths of a second per step on 64² crops on one CPU thread.
    """

    def __init__(self, *, scales: int = 3, N: int = 64, M: int | Sequence[int] = 32):
        super().__init__()
        check_int(scales, "scales", minimum=2, maximum=4)
        check_int(N, "N", minimum=MIN_CHANNELS)
        channels = _latent_channels(M, scales)
        self.scales, self.N, self.M = scales, N, channels
        self.streams = tuple(f"s{level}" for level in range(scales))
        _, entropy_models = compressai_modules()
        top = scales - 1
        self.stem = nn.Sequential(_conv(3, N, 5, 2), nn.GELU(), _conv(N, N, 5, 2), ResidualBlock(N, N))
        self.downs = nn.ModuleList(
            nn.Sequential(_conv(N, N, 3, 2), nn.GELU(), ResidualBlock(N, N)) for _ in range(top)
        )
        # level l reads its features and (below the top) the state from the coarser scales
        self.posteriors = nn.ModuleList(
            nn.Sequential(_conv(N if level == top else 2 * N, N, 3), nn.GELU(), _conv(N, channels[level], 1))
            for level in range(scales)
        )
        self.priors = nn.ModuleList(
            nn.Sequential(_conv(N, N, 3), nn.GELU(), _conv(N, 2 * channels[level], 1)) for level in range(top)
        )
        self.injects = nn.ModuleList(_conv(channels[level], N, 1) for level in range(scales))
        self.blocks = nn.ModuleList(ResidualBlock(N, N) for _ in range(scales))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(N, N, 4, stride=2, padding=1) for _ in range(top))
        self.head = nn.Sequential(_deconv(N, N), nn.GELU(), _deconv(N, 3))
        self.entropy_bottleneck = entropy_models.EntropyBottleneck(channels[top])
        self.gaussian_conditionals = nn.ModuleList(
            entropy_models.GaussianConditional(None) for _ in range(top)
        )

    def scale_table(self) -> torch.Tensor:
        """CompressAI's scale range, 0.11 to 256, at :data:`SCALE_TABLE_LEVELS` log-spaced scales."""
        models, _ = compressai_modules()
        return models.base.get_scale_table(levels=SCALE_TABLE_LEVELS)

    @property
    def size_multiple(self) -> int:
        return FINEST_DOWNSAMPLE * 2 ** (self.scales - 1)

    @property
    def latent_channels(self) -> list[int]:
        return list(self.M)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features fine → coarse: (B, N, H/4, W/4), (B, N, H/8, W/8), ..."""
        out = [self.stem(images)]
        for down in self.downs:
            out.append(down(out[-1]))
        return out

    def prior(self, level: int, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scales, means)`` of level ``level``'s Gaussian conditional (below the top) from the decoder
        state at its resolution, (B, N, h, w) → two (B, M_level, h, w). The scales are bounded below by
        0.11 inside the entropy model."""
        scales, means = self.priors[level](state).chunk(2, dim=1)
        return scales, means

    def _top_down(
        self,
        features: list[torch.Tensor] | None,
        code: Callable[[int, torch.Tensor | None, tuple | None], torch.Tensor],
    ) -> torch.Tensor:
        """The top-down path; ``code(level, y, prior)`` turns the posterior latent y (None when decoding)
        and the level's prior ``(scales, means)`` (None at the top) into ŷ. Returns the synthesis."""
        top = self.scales - 1
        y = None if features is None else self.posteriors[top](features[top])
        state = self.blocks[top](self.injects[top](code(top, y, None)))
        for level in reversed(range(top)):
            state = self.ups[level](state)
            prior = self.prior(level, state)
            y = None if features is None else self.posteriors[level](torch.cat([features[level], state], 1))
            state = self.blocks[level](state + self.injects[level](code(level, y, prior)))
        return self.head(state)

    def forward(self, images: torch.Tensor) -> CodecOutput:
        """See :class:`~laserlab.models.CodecOutput`: likelihoods per stream, latents y fine → coarse."""
        self.check_input(images)
        likelihoods: dict[str, torch.Tensor] = {}
        latents: list[torch.Tensor | None] = [None] * self.scales

        def code(level, y, prior):
            latents[level] = y
            if prior is None:
                y_hat, likelihoods[self.streams[level]] = self.entropy_bottleneck(y)
            else:
                scales, means = prior
                y_hat, likelihoods[self.streams[level]] = self.gaussian_conditionals[level](
                    y, scales, means=means
                )
            return y_hat

        synthesis = self._top_down(self.features(images), code)
        return self._output(synthesis, likelihoods, latents)

    def compress(self, images: torch.Tensor) -> CompressedImages:
        """The rANS strings of ``images`` (B, 3, H, W), one stream per scale; call ``update()`` first."""
        self.check_input(images)
        strings: list[list[bytes] | None] = [None] * self.scales

        def code(level, y, prior):
            if prior is None:
                strings[level] = self.entropy_bottleneck.compress(y)
                y_hat, _ = self.entropy_bottleneck(y, training=False)
                return y_hat
            scales, means = prior
            model = self.gaussian_conditionals[level]
            strings[level] = model.compress(y, model.build_indexes(scales), means=means)
            y_hat, _ = model(y, scales, means=means, training=False)
            return y_hat

        features = self.features(images)
        self._top_down(features, code)
        return CompressedImages(strings, tuple(int(s) for s in features[-1].shape[-2:]))

    def decompress(self, compressed: CompressedImages) -> torch.Tensor:
        """The images (B, 3, h·m, w·m) in [0, 1] that ``compressed`` defines (m = ``size_multiple``)."""
        self.check_compressed(compressed)

        def code(level, y, prior):
            stream = list(compressed.strings[level])
            if prior is None:
                return self.entropy_bottleneck.decompress(stream, compressed.shape)
            scales, means = prior
            model = self.gaussian_conditionals[level]
            return model.decompress(stream, model.build_indexes(scales), dtype=means.dtype, means=means)

        return self._top_down(None, code).clamp(0, 1)
