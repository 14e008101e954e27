"""Learned codecs: a trained :class:`~laserlab.models.LearnedCodecModel` (factorized prior, mean-scale
hyperprior, ...) as a :class:`~laserlab.codecs.Codec`, usually from a checkpoint with
:func:`laserlab.codecs.from_checkpoint`.

Encoding: the image (3, H, W) is padded on the right and bottom to multiples of the model's
``size_multiple`` (64 for the mean-scale hyperprior, 16 for the factorized prior) by repeating its last
row and column (replicate padding), coded by the model's ``compress`` (CompressAI's rANS, after
``update(force=True)``), and the decoder crops its reconstruction back to H×W. The rate counts the
original H·W pixels; the padded border costs bits too (little: repeated pixels are cheap).

File: the laserlab container (:mod:`laserlab.codecs.container`, kind ``learned``) whose model id is a
CRC32 of the model class and every weight and entropy-model table, so a file written by another model
(other weights, another λ) is refused. Payload: for a model with k streams (mean-scale hyperprior:
``y``, ``z``), the byte lengths of the first k − 1 as 4-byte little-endian integers, then the k streams in
the model's ``streams`` order. The latent grid is (H, W) padded / ``size_multiple``, so it is not stored.

Decoding needs the same model and the same floating-point results for its hyper-synthesis: CompressAI
turns each predicted scale into a table index, and a scale computed differently (another machine,
library build or thread count) can pick another table and garble the rest of the stream. A reconstruction
decoded in another process on the same machine equals the encoder's own ``decompress`` result.

The rate estimate :meth:`LearnedCodec.estimated_bits` is −Σ log2 likelihood of exactly the symbols the
coder writes (the model's eval-mode forward on the padded image: rounding around each entropy model's
median or mean, as ``compress`` does). The file exceeds it by the container header (15–19 bytes), the
stream lengths, the rANS flush (8 bytes a stream) and the coder's 16-bit CDF quantisation. It can also
fall *below* it: a symbol far in a distribution's tail has a likelihood of 2^−20 to 2^−30 (bounded below
by 1e-9) in the estimate, while the coder writes it as an escape (probability at least 2^−16) plus a few
raw bits. Barely trained models met with unfamiliar images have many such symbols.

Damaged files are caught by the container's CRC32 before CompressAI's decoder sees them; that decoder does
not bounds-check a stream, so a deliberately forged file (valid CRC and model id) can make it misbehave —
decode files you trust.
"""

from __future__ import annotations

import copy
import struct

import torch

from ..models import CompressedImages, LearnedCodecModel
from ..models.compression import likelihood_bits
from . import container
from .base import Codec, check_image, pad_to_multiple
from .checkpoint import CHECKPOINT_CODECS, CheckpointFamily, TrainedModel

_LENGTH = struct.Struct("<I")


def model_fingerprint(model: torch.nn.Module) -> int:
    """A 32-bit id of ``model``'s class and every tensor of its state dict (names, dtypes, shapes, bytes)."""
    parts: list[str | bytes] = [type(model).__name__]
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        parts += [
            f"{key}:{tensor.dtype}:{tuple(tensor.shape)}",
            tensor.reshape(-1).view(torch.uint8).numpy().tobytes(),
        ]
    return container.model_id(*parts)


class LearnedCodec(Codec):
    """A learned codec model as an image codec; see the module docstring.

    ``model``: a :class:`~laserlab.models.LearnedCodecModel`; the codec keeps its own copy (in eval mode,
    entropy tables updated), so later training of ``model`` does not change the codec. ``checkpoint``:
    the file the model came from (shown in ``settings`` and labels).
    """

    name = "learned"

    def __init__(self, model: LearnedCodecModel, *, checkpoint: str | None = None):
        if not isinstance(model, LearnedCodecModel):
            raise TypeError(f"model must be a laserlab LearnedCodecModel; got {type(model).__name__}")
        model = copy.deepcopy(model).eval()
        model.update(force=True)
        self.model = model
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.model_id = model_fingerprint(model)

    @classmethod
    def from_trained(cls, trained: TrainedModel) -> LearnedCodec:
        """The codec of a model restored by :func:`~laserlab.codecs.checkpoint.load_trained_model`."""
        return cls(trained.model, checkpoint=str(trained.path))

    @property
    def settings(self) -> dict[str, object]:
        if self.checkpoint is not None:
            return {"checkpoint": self.checkpoint}
        return {"model": type(self.model).__name__, "model_id": f"{self.model_id:#010x}"}

    @property
    def size_multiple(self) -> int:
        return self.model.size_multiple

    def _grid(self, height: int, width: int) -> tuple[int, int]:
        multiple = self.size_multiple
        return -(-height // multiple), -(-width // multiple)

    def _padded(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (3, H, W) as a batch of one, replicate-padded to multiples of ``size_multiple``."""
        parameter = next(self.model.parameters())
        return pad_to_multiple(image.detach().to(parameter.device, parameter.dtype), self.size_multiple)

    @torch.no_grad()
    def _encode(self, image: torch.Tensor) -> bytes:
        _, height, width = image.shape
        compressed = self.model.compress(self._padded(image))
        if compressed.shape != self._grid(height, width):
            raise RuntimeError(
                f"{type(self.model).__name__}.compress returned the latent grid {compressed.shape}; the "
                f"codec expects {self._grid(height, width)} for a {height}×{width} image"
            )
        streams = [stream[0] for stream in compressed.strings]
        payload = b"".join([*(_LENGTH.pack(len(s)) for s in streams[:-1]), *streams])
        return container.pack(container.Header(self.name, self.model_id, height, width), payload)

    def _streams(self, payload: bytes) -> list[bytes]:
        count = len(self.model.streams)
        table = _LENGTH.size * (count - 1)
        if len(payload) < table:
            raise ValueError(
                f"corrupt learned-codec file: a payload of {len(payload)} bytes has no stream table"
            )
        lengths = [_LENGTH.unpack_from(payload, _LENGTH.size * i)[0] for i in range(count - 1)]
        if sum(lengths) > len(payload) - table:
            raise ValueError(
                f"corrupt learned-codec file: stream lengths {lengths} exceed the {len(payload) - table} "
                "bytes of stream data"
            )
        streams, offset = [], table
        for length in lengths:
            streams.append(payload[offset : offset + length])
            offset += length
        return [*streams, payload[offset:]]

    @torch.no_grad()
    def _decode(self, data: bytes) -> torch.Tensor:
        header, payload = container.unpack(data, kind=self.name, model=self.model_id, decoder=self.label)
        streams = self._streams(payload)
        grid = self._grid(header.height, header.width)
        images = self.model.decompress(CompressedImages([[s] for s in streams], grid))
        return images[0, :, : header.height, : header.width].to("cpu", torch.float32).contiguous()

    @torch.no_grad()
    def estimated_bits(self, image: torch.Tensor) -> dict[str, float]:
        """``{stream: bits}``: −Σ log2 likelihood of the symbols :meth:`encode` codes for ``image``
        (3, H, W) in [0, 1], per stream; their sum is the ideal size of the streams."""
        check_image(image)
        output = self.model(self._padded(image))
        return {name: float(likelihood_bits(lik)[0]) for name, lik in output.likelihoods.items()}


CHECKPOINT_CODECS.register("learned", CheckpointFamily((LearnedCodecModel,), LearnedCodec.from_trained))
