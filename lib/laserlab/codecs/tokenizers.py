"""Tokenizer codecs: a trained VQ-VAE, DL-VAE, K-SVD-VAE or two-level autoencoder as an image codec.

``from_checkpoint(path)`` (or ``TokenizerCodec(checkpoint=path)``) loads a checkpoint written by
:func:`laserlab.train.fit` for the models ``autoencoder`` and ``hierarchical`` of :mod:`laserlab.models`.
Encoding one image: encoder → each bottleneck's ``encode`` (the model's :meth:`encode`) → the discrete
codes as symbol streams → one rANS stream (:mod:`laserlab.codecs.entropy`) under categorical priors
**fitted on the training set and stored in the checkpoint** → the laserlab container (kind
``"tokenizer"``). Decoding: rANS → codes → each bottleneck's ``decode`` → decoder (the model's
:meth:`decode`). The codec runs on the CPU, in the checkpoint's precision.

**Reconstruction.** The file defines ``model.decode(codes)``: for an image (3, H, W) whose sides are
multiples of the model's ``size_multiple``, ``decode(encode(x))`` equals the model's evaluation-mode
reconstruction of that one image, ``model.eval()(x[None]).reconstruction[0]``, up to the order in which
a token's atoms are summed (≤ 1e-6; see "support" below). Other sizes are padded at the bottom and right
by repeating the edge pixels, and the decoder crops the padding off. A dictionary level quantises its
coefficients in a range set per image (the image's largest |coefficient|): on a batch, the model's
forward uses the batch's largest one, so compare with single-image forwards.

**File.** The container (:mod:`laserlab.codecs.container`: magic, version, kind, model id, height,
width, payload length, CRC32) around the payload::

    for each dictionary level, fine → coarse: its coefficient range max_abs, a little-endian float in the
        model's precision (4 bytes for float32)
    one rANS stream: every level's symbols, fine → coarse

The model id is a CRC32 of this format's version, the model's fingerprint
(:func:`laserlab.codecs.learned.model_fingerprint`: its class, weights and buffers) and the priors, so a
file decodes only with the checkpoint that wrote it. The header's image size fixes every latent grid,
hence how many symbols each stream holds.

**Symbol streams** (tokens in the bottleneck's token order, batch-major raster):

- VQ level: one codeword index per latent position, under the level's ``codes`` prior (K symbols).
- Dictionary level, S-sparse codes over K atoms with ``value_bits`` = b bits per coefficient:

  1. ``count`` — the atoms a token uses, n ∈ [0, S] (OMP stops early only on an exact fit), under the
     ``count`` prior (S + 1 symbols): almost always S, so it costs a small fraction of a bit per token;
  2. support, in a **canonical order**: a token's atoms are sent sorted by their rank in the ``atoms``
     prior (most used atom first), slot by slot. The first atom is coded under the whole prior; each
     next one can only have a higher rank than the previous one (r_prev), so it is coded as r − r_prev − 1
     under the prior restricted to ranks above r_prev and renormalised. The order of a token's atoms
     carries nothing the decoder needs (the reconstruction is a sum), and sending them in OMP's selection
     order would cost up to log2 S! bits per token more. Sorting by usage rank rather than by atom index
     makes each restriction cut off the most probable atoms, which saves the most. Measured on the
     notebook recipe's DL-VAE (K = 64, S = 2, 768 held-out tokens): 11.53 bits per token in selection
     order under the usage prior, 10.97 in atom-index order, 10.54 in usage-rank order, against
     log2 C(64, 2) = 10.98 for the fixed-rate count and 12.35 for coding each atom's presence as an
     independent bit. Decoding adds the atoms in this canonical order, so the reconstruction can differ
     from the forward's (selection order) by float round-off;
  3. values — each active slot's quantised coefficient symbol (in [0, 2^b)), permuted along with its
     atom, under the ``values`` prior (2^b symbols).

  The support is decoded slot by slot (a slot's alphabet depends on the slot before), so the decoder
  reads the one rANS stream in chunks (:class:`laserlab.codecs.entropy.StreamDecoder`).

A dictionary bottleneck without ``value_bits`` has float coefficients, which no entropy coder sends
exactly: such a model is refused with an error naming the option. ``value_bits`` is limited to
:data:`MAX_VALUE_BITS` (the coder's 16-bit CDFs lose too much on larger alphabets).

**Priors.** :func:`fit_priors` runs the model in evaluation mode over the training images, one image at a
time exactly as the codec does, counts each level's symbols and fits :class:`CategoricalPrior` s with
additive smoothing (``smoothing`` α: p_k = (n_k + α) / (N + K·α)), so atoms or codewords unseen in
training stay codable. :func:`fit_checkpoint_priors` does that for a checkpoint (by default on the
training split named in its config) and stores them in it, atomically, under the key ``laserlab_priors``
(:meth:`TokenizerPriors.state_dict`: plain tensors, loadable with ``weights_only=True``);
:func:`laserlab.train.fit` calls it on ``last.ckpt`` at the end of every run of a codable model.

**Rates.** :func:`rate_accounting` puts a codec's three rates side by side on a set of images
(:class:`RateAccounting`): the closed form of the bottlenecks (log2 K per VQ position, log2 C(K, S) + S·b
per dictionary token; what training logs as ``bpp``), the estimate −Σ log2 p of the symbols under the
stored priors, and the actual bytes of the files. The coded size exceeds the estimate by the container
(15–19 bytes), the stored coefficient ranges, the rANS flush (8 bytes) and word alignment, and the 16-bit
CDF quantisation (small).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..bottlenecks import DictionaryBottleneck, PatchCode, VectorQuantizer
from ..checks import check_number
from ..models import Autoencoder, HierarchicalAutoencoder
from ..models.autoencoder import level_bits
from ..sparse.rate import dequantize
from . import container, entropy
from .base import Codec, check_image, pad_to_multiple
from .checkpoint import CHECKPOINT_CODECS, CheckpointFamily, TrainedModel, load_trained_model
from .entropy import MAX_ALPHABET, CategoricalPrior, StreamDecoder
from .learned import model_fingerprint

FORMAT_VERSION = 1  # of the payload layout and symbol streams; part of the model id
PRIORS_KEY = "laserlab_priors"  # where a checkpoint keeps the priors
TOKENIZER_MODELS = ("autoencoder", "hierarchical")  # laserlab.models names a tokenizer codec can load
TOKENIZER_TYPES = (Autoencoder, HierarchicalAutoencoder)
MAX_VALUE_BITS = 12
DEFAULT_SMOOTHING = 0.5


# ---------------------------------------------------------------------------------------------- priors
@dataclass(frozen=True)
class LevelPriors:
    """The priors of one level: ``kind`` "vq" with ``priors`` {"codes"}, or "dictionary" with
    {"count", "atoms", "values"} (see the module docstring)."""

    kind: str
    priors: dict[str, CategoricalPrior]


@dataclass(frozen=True)
class TokenizerPriors:
    """Every level's priors (fine → coarse), fitted on ``images`` training images with additive
    ``smoothing``."""

    levels: tuple[LevelPriors, ...]
    images: int
    smoothing: float

    def state_dict(self) -> dict:
        """Plain containers and float64 tensors, for a checkpoint."""
        return {
            "format": FORMAT_VERSION,
            "images": self.images,
            "smoothing": self.smoothing,
            "levels": [
                {"kind": level.kind, "priors": {name: p.state_dict() for name, p in level.priors.items()}}
                for level in self.levels
            ],
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> TokenizerPriors:
        """The priors :meth:`state_dict` wrote; another format is a ``ValueError``."""
        if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"tokenizer priors of format {found!r}; this laserlab reads format {FORMAT_VERSION} "
                "(refit them with laserlab.codecs.fit_checkpoint_priors)"
            )
        keys = {"format", "images", "smoothing", "levels"}
        levels = state.get("levels")
        if set(state) != keys or not isinstance(levels, list) or not levels:
            raise ValueError(
                f"tokenizer priors must hold exactly the keys {sorted(keys)}; got {sorted(state)}"
            )
        for level in levels:
            if not isinstance(level, dict) or level.get("kind") not in ("vq", "dictionary"):
                raise ValueError(
                    f"each level of tokenizer priors must be a dict of kind vq or dictionary; got {level!r}"
                )
        parsed = tuple(
            LevelPriors(
                level["kind"],
                {name: CategoricalPrior.from_state_dict(p) for name, p in level["priors"].items()},
            )
            for level in levels
        )
        return cls(parsed, int(state["images"]), float(state["smoothing"]))


# ---------------------------------------------------------------------------------------------- streams
class _StreamWriter:
    """Symbols in stream order, each with its prior; priors are numbered in order of first use."""

    def __init__(self) -> None:
        self.priors: list[CategoricalPrior] = []
        self._slots: dict[int, int] = {}
        self._symbols: list[torch.Tensor] = []
        self._indexes: list[torch.Tensor] = []

    def add(
        self,
        symbols: torch.Tensor,
        priors: CategoricalPrior | list[CategoricalPrior],
        indexes: torch.Tensor | None = None,
    ) -> None:
        """``symbols`` (N,), under ``priors`` (one, or a list and each symbol's ``indexes`` into it)."""
        if isinstance(priors, CategoricalPrior):
            priors, indexes = [priors], torch.zeros(symbols.numel(), dtype=torch.long)
        slots = torch.tensor([self._slot(prior) for prior in priors], dtype=torch.long)
        self._symbols.append(symbols.reshape(-1).long())
        self._indexes.append(slots[indexes])

    def _slot(self, prior: CategoricalPrior) -> int:
        if id(prior) not in self._slots:
            self._slots[id(prior)] = len(self.priors)
            self.priors.append(prior)
        return self._slots[id(prior)]

    def streams(self) -> tuple[torch.Tensor, list[CategoricalPrior], torch.Tensor]:
        return torch.cat(self._symbols), self.priors, torch.cat(self._indexes)


class _VQLevel:
    """A VQ level: one codeword index per latent position."""

    kind = "vq"
    side_bytes = 0

    def __init__(self, bottleneck: VectorQuantizer, priors: LevelPriors | None):
        self.bottleneck = bottleneck
        self.alphabets = {"codes": bottleneck.num_codes}
        self.priors = priors

    def max_symbols(self, shape: tuple[int, int, int]) -> int:
        return shape[1] * shape[2]

    def counts(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"codes": torch.bincount(codes.reshape(-1).cpu(), minlength=self.bottleneck.num_codes)}

    def side(self, codes: torch.Tensor) -> bytes:
        return b""

    def write(self, codes: torch.Tensor, writer: _StreamWriter) -> None:
        writer.add(codes.reshape(-1).cpu(), self.priors.priors["codes"])

    def read(self, decoder: StreamDecoder, shape: tuple[int, int, int], side: bytes) -> torch.Tensor:
        _, rows, cols = shape
        return decoder.decode(self.priors.priors["codes"], count=rows * cols).view(1, rows, cols)


class _DictionaryLevel:
    """A dictionary level: count, canonical support and value symbols per token (module docstring)."""

    kind = "dictionary"

    def __init__(self, bottleneck: DictionaryBottleneck, priors: LevelPriors | None):
        self.bottleneck = bottleneck
        self.num_atoms, self.sparsity, self.bits = (
            bottleneck.num_atoms,
            bottleneck.sparsity,
            bottleneck.value_bits,
        )
        self.alphabets = {"count": self.sparsity + 1, "atoms": self.num_atoms, "values": 2**self.bits}
        self.dtype = bottleneck.entries.dtype
        self.side_format = "<f" if self.dtype == torch.float32 else "<d"
        self.side_bytes = struct.calcsize(self.side_format)
        self.priors = priors
        if priors is not None:
            atoms = priors.priors["atoms"].probabilities
            # rank 0 = most probable atom; ties by index, so the order is a function of the stored prior
            self.order = torch.sort(atoms, descending=True, stable=True).indices
            self.rank = torch.empty_like(self.order)
            self.rank[self.order] = torch.arange(self.num_atoms)
            self.ranked = atoms[self.order]
            self._tails: dict[int, CategoricalPrior] = {}

    def tail(self, lowest: int) -> CategoricalPrior:
        """The atoms prior over ranks ``lowest`` … K−1, renormalised (alphabet: rank − lowest)."""
        if lowest not in self._tails:
            mass = self.ranked[lowest:]
            self._tails[lowest] = CategoricalPrior(mass / mass.sum())
        return self._tails[lowest]

    def _grid(self, shape: tuple[int, int, int]) -> int:
        p = self.bottleneck.patch_size
        return -(-shape[1] // p) * -(-shape[2] // p)

    def max_symbols(self, shape: tuple[int, int, int]) -> int:
        return self._grid(shape) * (1 + 2 * self.sparsity)

    def counts(self, codes: PatchCode) -> dict[str, torch.Tensor]:
        code = codes.sparse
        valid = code.indices >= 0
        return {
            "count": torch.bincount(valid.sum(1).cpu(), minlength=self.sparsity + 1),
            "atoms": torch.bincount(code.indices[valid].cpu(), minlength=self.num_atoms),
            "values": torch.bincount(code.symbols[valid].cpu(), minlength=2**self.bits),
        }

    def side(self, codes: PatchCode) -> bytes:
        return struct.pack(self.side_format, float(codes.sparse.max_abs))

    def _canonical(self, codes: PatchCode) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(atoms per token (N,), ranks (N, S) ascending with K in empty slots, value symbols (N, S)
        permuted alongside)."""
        indices, symbols = codes.sparse.indices.cpu(), codes.sparse.symbols.cpu()
        valid = indices >= 0
        ranks = torch.where(valid, self.rank[indices.clamp(min=0)], self.num_atoms)
        ranks, order = torch.sort(ranks, dim=1, stable=True)
        if bool(((ranks[:, 1:] == ranks[:, :-1]) & (ranks[:, 1:] < self.num_atoms)).any()):
            raise ValueError("a token's sparse code uses an atom twice; a support is a set of distinct atoms")
        return valid.sum(1), ranks, torch.gather(symbols, 1, order)

    def write(self, codes: PatchCode, writer: _StreamWriter) -> None:
        count, ranks, symbols = self._canonical(codes)
        writer.add(count, self.priors.priors["count"])
        previous = torch.full_like(count, -1)
        for slot in range(self.sparsity):
            active = count > slot
            rank, lowest = ranks[active, slot], previous[active] + 1
            tails, which = torch.unique(lowest, return_inverse=True)
            writer.add(rank - lowest, [self.tail(int(t)) for t in tails], which)
            previous[active] = rank
        for slot in range(self.sparsity):
            writer.add(symbols[count > slot, slot], self.priors.priors["values"])

    def read(self, decoder: StreamDecoder, shape: tuple[int, int, int], side: bytes) -> PatchCode:
        (max_abs,) = struct.unpack(self.side_format, side)
        if not (math.isfinite(max_abs) and max_abs > 0):
            raise ValueError(f"corrupt tokenizer file: coefficient range {max_abs!r} (must be finite, > 0)")
        tokens = self._grid(shape)
        count = decoder.decode(self.priors.priors["count"], count=tokens)
        ranks = torch.full((tokens, self.sparsity), -1, dtype=torch.long)
        previous = torch.full((tokens,), -1, dtype=torch.long)
        for slot in range(self.sparsity):
            active = count > slot
            lowest = previous[active] + 1
            if bool((lowest >= self.num_atoms).any()):
                raise ValueError("corrupt tokenizer file: a token's support runs past the last atom")
            tails, which = torch.unique(lowest, return_inverse=True)
            rank = lowest + decoder.decode([self.tail(int(t)) for t in tails], which)
            ranks[active, slot] = rank
            previous[active] = rank
        symbols = torch.full((tokens, self.sparsity), -1, dtype=torch.long)
        for slot in range(self.sparsity):
            active = count > slot
            symbols[active, slot] = decoder.decode(self.priors.priors["values"], count=int(active.sum()))
        indices = torch.where(ranks >= 0, self.order[ranks.clamp(min=0)], -1)
        code = dequantize(indices, symbols, max_abs=torch.tensor(max_abs, dtype=self.dtype), bits=self.bits)
        return PatchCode(code, (1, *shape), self.bottleneck.patch_size)


def uncodable_reason(model: nn.Module) -> str | None:
    """Why ``model`` cannot be a tokenizer codec, or None when it can: a ``laserlab.models`` autoencoder
    whose bottlenecks are VQ, or dictionaries with ``value_bits`` ≤ :data:`MAX_VALUE_BITS`."""
    if not isinstance(model, TOKENIZER_TYPES):
        return f"{type(model).__name__} is not a laserlab.models tokenizer ({', '.join(TOKENIZER_MODELS)})"
    for level, bottleneck in enumerate(model.bottleneck_modules):
        where = "the bottleneck" if level == 0 else "the coarse bottleneck"
        if isinstance(bottleneck, VectorQuantizer):
            size = bottleneck.num_codes
        elif isinstance(bottleneck, DictionaryBottleneck):
            if bottleneck.value_bits is None:
                return (
                    f"{where} is a dictionary without value_bits: its coefficients are floats, which no "
                    "entropy coder sends exactly; train it with the bottleneck option value_bits "
                    f"(an int in [1, {MAX_VALUE_BITS}], e.g. value_bits: 6)"
                )
            if bottleneck.value_bits > MAX_VALUE_BITS:
                return (
                    f"{where} has value_bits={bottleneck.value_bits}; the tokenizer codec codes at most "
                    f"{MAX_VALUE_BITS}-bit coefficients (16-bit rANS tables)"
                )
            size = bottleneck.num_atoms
        else:
            kind = type(bottleneck).__name__
            return f"{where} is a {kind}; the tokenizer codec codes VQ and dictionary bottlenecks"
        if size > MAX_ALPHABET:
            return f"{where} has {size} entries; the rANS coder takes at most {MAX_ALPHABET}"
    return None


def _levels(model: nn.Module, priors: TokenizerPriors | None) -> list[_VQLevel | _DictionaryLevel]:
    reason = uncodable_reason(model)
    if reason is not None:
        raise ValueError(f"this model cannot be a tokenizer codec: {reason}")
    levels = []
    for index, bottleneck in enumerate(model.bottleneck_modules):
        kind = _VQLevel if isinstance(bottleneck, VectorQuantizer) else _DictionaryLevel
        levels.append(kind(bottleneck, None if priors is None else priors.levels[index]))
    return levels


def _check_priors(levels: list[_VQLevel | _DictionaryLevel], priors: TokenizerPriors, where: str) -> None:
    """``priors`` must have one level per level of the model (``levels``), of its kind and alphabet
    sizes."""
    expected = [(level.kind, level.alphabets) for level in levels]
    found = [
        (level.kind, {name: prior.alphabet_size for name, prior in level.priors.items()})
        for level in priors.levels
    ]
    if found != expected:
        raise ValueError(
            f"the priors in {where} do not fit its model: model levels {expected}, priors {found}; refit "
            "them with laserlab.codecs.fit_checkpoint_priors"
        )


def check_image_sequence(images, name: str = "images") -> None:
    """``images`` must be a non-empty batch (B, 3, H, W) or indexable sequence of (3, H, W) images (a
    list, a dataset); each image is checked where it is used."""
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(f"{name} must be a batch (B, 3, H, W); got shape {tuple(images.shape)}")
    elif isinstance(images, str | bytes) or not (
        hasattr(images, "__len__") and hasattr(images, "__getitem__")
    ):
        raise TypeError(
            f"{name} must be a sequence of (3, H, W) tensors (a list, a dataset) or a batch (B, 3, H, W); "
            f"got {type(images).__name__}"
        )
    if len(images) == 0:
        raise ValueError(f"{name} must hold at least one image")


def fit_priors(model: nn.Module, images, *, smoothing: float = DEFAULT_SMOOTHING) -> TokenizerPriors:
    """Priors for ``model`` from the symbols of ``images`` (a sequence of (3, H, W) in [0, 1], e.g. a
    training dataset, or a batch (B, 3, H, W)), each image coded on its own as the codec codes it.

    ``model`` runs in evaluation mode on its own device (its mode is restored afterwards).
    """
    check_number(smoothing, "smoothing", minimum=0.0, exclusive=True)
    levels = _levels(model, None)
    check_image_sequence(images)
    parameter = next(model.parameters())
    totals = [
        {name: torch.zeros(size, dtype=torch.long) for name, size in level.alphabets.items()}
        for level in levels
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(len(images)):
                image = images[i]
                check_image(image, f"images[{i}]")
                batch = pad_to_multiple(image.to(parameter.device, parameter.dtype), model.size_multiple)
                for level, codes, total in zip(levels, model.encode(batch), totals, strict=True):
                    for name, counts in level.counts(codes).items():
                        total[name] += counts
    finally:
        model.train(was_training)
    fitted = tuple(
        LevelPriors(
            level.kind,
            {
                name: CategoricalPrior.from_counts(counts, smoothing=smoothing)
                for name, counts in total.items()
            },
        )
        for level, total in zip(levels, totals, strict=True)
    )
    return TokenizerPriors(fitted, len(images), float(smoothing))


# ---------------------------------------------------------------------------------------------- checkpoints
def _tokenizer(path: str | Path) -> TrainedModel:
    """The trained tokenizer model in the checkpoint at ``path``."""
    trained = load_trained_model(path)
    if not isinstance(trained.model, TOKENIZER_TYPES):
        raise ValueError(
            f"{str(trained.path)!r} is not a checkpoint of a tokenizer model ({', '.join(TOKENIZER_MODELS)}) "
            f"trained by laserlab.train; it holds a {type(trained.model).__name__}"
        )
    return trained


def _training_images(config: dict):
    """The training split of the dataset a training config names, as the training loader built it."""
    from ..data import dataset

    data = config["data"]
    return dataset(
        data["name"], split="train", image_size=data["image_size"], seed=config["seed"], **data["options"]
    )


def fit_checkpoint_priors(
    path: str | Path, *, images=None, smoothing: float = DEFAULT_SMOOTHING
) -> TokenizerPriors:
    """Fit the priors of the model in the checkpoint at ``path`` (:func:`fit_priors`) and store them in
    it, atomically (other contents unchanged); returns them.

    ``images``: the images to fit on; default, the training split of the dataset the checkpoint's
    training config names (as the training loader built it).
    """
    from ..train.checkpoint import atomic_save

    trained = _tokenizer(path)
    priors = fit_priors(
        trained.model, _training_images(trained.config) if images is None else images, smoothing=smoothing
    )
    checkpoint = dict(trained.checkpoint)
    checkpoint[PRIORS_KEY] = priors.state_dict()
    atomic_save(checkpoint, trained.path)
    return priors


def _model_id(model: nn.Module, priors: TokenizerPriors) -> int:
    parts: list[str | bytes] = [
        "tokenizer",
        f"format={FORMAT_VERSION}",
        f"model={model_fingerprint(model):08x}",
    ]
    for index, level in enumerate(priors.levels):
        for name, prior in sorted(level.priors.items()):
            parts += [f"level{index}.{name}", prior.probabilities.numpy().tobytes()]
    return container.model_id(*parts)


# ---------------------------------------------------------------------------------------------- codec
@dataclass(frozen=True)
class ImageRates:
    """One image's rates in bits: ``closed_form`` (the bottlenecks' fixed rate), ``estimate`` (−Σ log2 p
    of its symbols under the priors), ``coded`` (8 × the file's bytes) and ``container`` (the part of
    ``coded`` that is container header and CRC), and the file itself."""

    closed_form: float
    estimate: float
    container: float
    data: bytes = field(repr=False)

    @property
    def coded(self) -> float:
        return 8.0 * len(self.data)


class TokenizerCodec(Codec):
    """A trained tokenizer model with its stored priors as an image codec (see the module docstring).

    ``checkpoint``: the path of a checkpoint written by :func:`laserlab.train.fit` (``last.ckpt``), with
    priors (``fit_checkpoint_priors`` adds them to a checkpoint that lacks them). Not in the option
    registry: ``from_checkpoint(settings["checkpoint"])`` rebuilds it.
    """

    name = "tokenizer"

    def __init__(self, *, checkpoint: str | Path):
        self._load(_tokenizer(checkpoint))

    @classmethod
    def from_trained(cls, trained: TrainedModel) -> TokenizerCodec:
        """The codec of a model restored by :func:`~laserlab.codecs.checkpoint.load_trained_model`."""
        codec = cls.__new__(cls)
        codec._load(trained)
        return codec

    def _load(self, trained: TrainedModel) -> None:
        path, model, loaded = trained.path, trained.model, trained.checkpoint
        bare = _levels(model, None)  # an uncodable model is refused before anything is said about priors
        if PRIORS_KEY not in loaded:
            raise ValueError(
                f"checkpoint {str(path)!r} holds no entropy-coding priors (key {PRIORS_KEY!r}); fit them "
                "with laserlab.codecs.fit_checkpoint_priors(path) (laserlab.train.fit does at the end of "
                "a run)"
            )
        priors = TokenizerPriors.from_state_dict(loaded[PRIORS_KEY])
        _check_priors(bare, priors, repr(str(path)))
        self.checkpoint = str(path)
        self.model = model
        self.priors = priors
        self._levels = _levels(model, priors)
        self._model = _model_id(model, priors)
        self._dtype = next(model.parameters()).dtype

    @property
    def settings(self) -> dict[str, object]:
        return {"checkpoint": self.checkpoint}

    def _codes(self, image: torch.Tensor) -> list:
        with torch.no_grad():
            return self.model.encode(pad_to_multiple(image.to(self._dtype), self.model.size_multiple))

    def _streams(
        self, codes: list
    ) -> tuple[bytes, tuple[torch.Tensor, list[CategoricalPrior], torch.Tensor]]:
        writer = _StreamWriter()
        side = b"".join(
            level.side(level_codes) for level, level_codes in zip(self._levels, codes, strict=True)
        )
        for level, level_codes in zip(self._levels, codes, strict=True):
            level.write(level_codes, writer)
        return side, writer.streams()

    def _payload(
        self, image: torch.Tensor
    ) -> tuple[bytes, tuple[torch.Tensor, list[CategoricalPrior], torch.Tensor]]:
        """The payload of ``image`` and the streams it codes: (symbols, priors, indexes)."""
        side, (symbols, priors, indexes) = self._streams(self._codes(image))
        return side + entropy.encode(symbols, priors, indexes=indexes), (symbols, priors, indexes)

    def _pack(self, image: torch.Tensor, payload: bytes) -> bytes:
        _, height, width = image.shape
        return container.pack(container.Header(self.name, self._model, height, width), payload)

    def _encode(self, image: torch.Tensor) -> bytes:
        return self._pack(image, self._payload(image)[0])

    def rates(self, image: torch.Tensor) -> ImageRates:
        """The file of ``image`` (3, H, W) in [0, 1] with its closed-form, estimated and coded bits."""
        check_image(image)
        payload, (symbols, priors, indexes) = self._payload(image)
        data = self._pack(image, payload)
        _, height, width = image.shape
        shapes = self._latent_shapes(height, width)
        bottlenecks = self.model.bottleneck_modules
        closed = sum(level_bits((1, *shape), b) for shape, b in zip(shapes, bottlenecks, strict=True))
        return ImageRates(
            closed_form=float(closed),
            estimate=entropy.estimate_bits(symbols, priors, indexes=indexes),
            container=8.0 * container.overhead(height, width, len(payload)),
            data=data,
        )

    def _latent_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        multiple = self.model.size_multiple
        return self.model.latent_shapes(-(-height // multiple) * multiple, -(-width // multiple) * multiple)

    def _decode(self, data: bytes) -> torch.Tensor:
        header, payload = container.unpack(data, kind=self.name, model=self._model, decoder=self.label)
        shapes = self._latent_shapes(header.height, header.width)
        side_length = sum(level.side_bytes for level in self._levels)
        if len(payload) < side_length:
            raise ValueError(
                f"corrupt tokenizer file: payload of {len(payload)} bytes, shorter than its "
                f"{side_length} bytes of coefficient ranges"
            )
        decoder = StreamDecoder(
            payload[side_length:],
            sum(level.max_symbols(shape) for level, shape in zip(self._levels, shapes, strict=True)),
        )
        codes, offset = [], 0
        for level, shape in zip(self._levels, shapes, strict=True):
            codes.append(level.read(decoder, shape, payload[offset : offset + level.side_bytes]))
            offset += level.side_bytes
        with torch.no_grad():
            reconstruction = self.model.decode(codes)[0, :, : header.height, : header.width]
        return reconstruction.to(torch.float32).contiguous()


CHECKPOINT_CODECS.register("tokenizer", CheckpointFamily(TOKENIZER_TYPES, TokenizerCodec.from_trained))


# ---------------------------------------------------------------------------------------------- rates
@dataclass
class RateAccounting:
    """A tokenizer codec's rates on a set of images, in bits per pixel, each the mean over images:

    - ``closed_form_bpp`` — the bottlenecks' fixed rate (what training logs as ``bpp``);
    - ``entropy_bpp`` — the estimate −Σ log2 p of the symbols under the stored priors;
    - ``coded_bpp`` — 8 · bytes / (H · W) of the actual files;
    - ``container_bpp`` — the part of ``coded_bpp`` that is container header and CRC.

    ``per_image`` holds each image's ``closed_form_bpp``, ``entropy_bpp``, ``coded_bpp`` and ``bytes``.
    """

    closed_form_bpp: float
    entropy_bpp: float
    coded_bpp: float
    container_bpp: float
    per_image: dict[str, list[float]]

    @property
    def num_images(self) -> int:
        return len(self.per_image["bytes"])

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (for ``metrics.json``)."""
        return {
            "closed_form_bpp": self.closed_form_bpp,
            "entropy_bpp": self.entropy_bpp,
            "coded_bpp": self.coded_bpp,
            "container_bpp": self.container_bpp,
            "images": self.num_images,
        }


def rate_accounting(codec: TokenizerCodec, images) -> RateAccounting:
    """Closed-form, estimated and coded rates of ``codec`` on ``images`` (a sequence of (3, H, W) in
    [0, 1], or a batch (B, 3, H, W)); see :class:`RateAccounting`."""
    if not isinstance(codec, TokenizerCodec):
        raise TypeError(f"codec must be a TokenizerCodec (from_checkpoint); got {type(codec).__name__}")
    check_image_sequence(images)
    per_image: dict[str, list[float]] = {
        "closed_form_bpp": [],
        "entropy_bpp": [],
        "coded_bpp": [],
        "bytes": [],
    }
    container_bits = []
    for i in range(len(images)):
        image = images[i]
        check_image(image, f"images[{i}]")
        rates = codec.rates(image)
        _, height, width = image.shape
        pixels = height * width
        container_bits.append(rates.container / pixels)
        per_image["closed_form_bpp"].append(rates.closed_form / pixels)
        per_image["entropy_bpp"].append(rates.estimate / pixels)
        per_image["coded_bpp"].append(rates.coded / pixels)
        per_image["bytes"].append(float(len(rates.data)))
    n = len(images)
    return RateAccounting(
        closed_form_bpp=math.fsum(per_image["closed_form_bpp"]) / n,
        entropy_bpp=math.fsum(per_image["entropy_bpp"]) / n,
        coded_bpp=math.fsum(per_image["coded_bpp"]) / n,
        container_bpp=math.fsum(container_bits) / n,
        per_image=per_image,
    )


__all__ = [
    "DEFAULT_SMOOTHING",
    "FORMAT_VERSION",
    "MAX_VALUE_BITS",
    "PRIORS_KEY",
    "TOKENIZER_MODELS",
    "ImageRates",
    "LevelPriors",
    "RateAccounting",
    "TokenizerCodec",
    "TokenizerPriors",
    "check_image_sequence",
    "fit_checkpoint_priors",
    "fit_priors",
    "rate_accounting",
    "uncodable_reason",
]
