"""Images to bytes and back: standard and baseline codecs, entropy coding, rate–distortion evaluation.

Every codec follows one protocol (:class:`Codec`): ``codecs.build(name, **options)`` returns it,
``codec.encode(image) -> bytes`` takes a float tensor (3, H, W) in [0, 1] and returns the whole file,
``codec.decode(bytes) -> image`` gives the reconstruction that file defines (float32 (3, H, W) in [0, 1]),
and the rate is 8·len(file) / (H·W) bits per pixel. Registered codecs (``codecs.available()`` says which
this install can run, and why not the others):

=============  ===============================  =========================================================
name           options                          file
=============  ===============================  =========================================================
jpeg           quality=75 (0–100)               JFIF (libjpeg through Pillow)
webp           quality=75 (0–100)               lossy WebP (libwebp)
jpeg2000       quality=75 (0–100 → target rate) J2K codestream (OpenJPEG, 9/7 wavelet)
avif           quality=75 (0–100)               AVIF (libavif)
thumbnail      factor=4, upsample="bilinear"    laserlab container: 8-bit ⌈H/f⌉×⌈W/f⌉ thumbnail
mean_colour    —                                laserlab container: 24-bit mean colour
=============  ===============================  =========================================================

Codecs of trained models come from their training checkpoints: ``codecs.from_checkpoint(path)`` reads a
checkpoint of :func:`laserlab.train.fit` and returns the codec of its model's family (registry
:data:`CHECKPOINT_CODECS`; :mod:`.checkpoint` says how a family registers). Tokenizers (:mod:`.tokenizers`:
a VQ-VAE, DL-VAE, K-SVD-VAE or two-level autoencoder) are entropy coded under priors fitted on their
training set and stored in the checkpoint; :func:`rate_accounting` gives their closed-form, estimated and
coded rates side by side. Learned codecs (:class:`LearnedCodec`, :mod:`.learned`: factorized prior,
mean-scale hyperprior) write the laserlab container around CompressAI's rANS streams, padding images to
their size multiple and cropping back.

A new codec subclasses :class:`Codec` and is added with :func:`register` (its keyword-only constructor
arguments are its options) or, when it codes a trained model, to :data:`CHECKPOINT_CODECS`. A laserlab format
wraps its payload with :func:`container.pack` / :func:`container.unpack` under a new ``container.KINDS``
entry and a :func:`container.model_id` of everything decoding depends on (weights, priors, settings), and
codes discrete symbols with :func:`entropy.encode` / :func:`entropy.decode` under
:class:`CategoricalPrior` priors kept in the checkpoint (``prior.state_dict()``).

Modules: :mod:`.base` (the protocol, image checks, 8-bit conversion), :mod:`.standard` (Pillow codecs),
:mod:`.tokenizers` (tokenizer codecs, priors, rates),
:mod:`.comparison` (the trivial baselines on a model's test images, values at a rate, the point nearest a
rate, BD-rate tables with reasons for missing entries),
:mod:`.baselines` (mean colour, thumbnail), :mod:`.container` (laserlab's checked file header),
:mod:`.entropy` (rANS coding of symbols under categorical priors), :mod:`.metrics` (MS-SSIM),
:mod:`.evaluation` (R-D points and curves, BD-rate), :mod:`.io` (image files), :mod:`.checkpoint`
(codecs from checkpoints), :mod:`.learned` (learned codecs).
"""

from . import container, entropy
from .base import Codec, check_image, image_from_uint8, image_to_uint8
from .baselines import MeanColourCodec, ThumbnailCodec
from .checkpoint import CHECKPOINT_CODECS, CheckpointFamily, TrainedModel, from_checkpoint, load_trained_model
from .comparison import (
    BaselineCurves,
    BDEntry,
    baseline_curves,
    bd_table,
    nearest_rate,
    thumbnail_factors,
    value_at_rate,
)
from .entropy import CategoricalPrior
from .evaluation import METRICS, RDPoint, bd_psnr, bd_rate, evaluate, rd_curve
from .io import read_image, write_image
from .learned import LearnedCodec
from .metrics import ms_ssim, ms_ssim_scales
from .registry import CODECS, CodecStatus, CodecUnavailableError, available, build, options, register
from .standard import AVIFCodec, JPEG2000Codec, JPEGCodec, PillowCodec, WebPCodec
from .tokenizers import (
    RateAccounting,
    TokenizerCodec,
    TokenizerPriors,
    fit_checkpoint_priors,
    fit_priors,
    rate_accounting,
)

__all__ = [
    "CHECKPOINT_CODECS",
    "CODECS",
    "METRICS",
    "AVIFCodec",
    "BDEntry",
    "BaselineCurves",
    "CategoricalPrior",
    "CheckpointFamily",
    "Codec",
    "CodecStatus",
    "CodecUnavailableError",
    "JPEG2000Codec",
    "JPEGCodec",
    "LearnedCodec",
    "MeanColourCodec",
    "PillowCodec",
    "RDPoint",
    "RateAccounting",
    "ThumbnailCodec",
    "TokenizerCodec",
    "TokenizerPriors",
    "TrainedModel",
    "WebPCodec",
    "available",
    "baseline_curves",
    "bd_psnr",
    "bd_rate",
    "bd_table",
    "build",
    "check_image",
    "container",
    "entropy",
    "evaluate",
    "fit_checkpoint_priors",
    "fit_priors",
    "from_checkpoint",
    "image_from_uint8",
    "image_to_uint8",
    "load_trained_model",
    "ms_ssim",
    "ms_ssim_scales",
    "nearest_rate",
    "options",
    "rate_accounting",
    "rd_curve",
    "read_image",
    "register",
    "thumbnail_factors",
    "value_at_rate",
    "write_image",
]
