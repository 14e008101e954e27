"""The codec registry: ``build(name, **options)`` and ``available()``.

``CODECS`` maps each name to its :class:`~laserlab.codecs.base.Codec` class, whose keyword-only
constructor arguments are the codec's options. A codec family added later registers its class here
with :func:`register`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .base import Codec
from .baselines import MeanColourCodec, ThumbnailCodec
from .standard import AVIFCodec, JPEG2000Codec, JPEGCodec, WebPCodec

CODECS: dict[str, type[Codec]] = {}


class CodecUnavailableError(ValueError):
    """The codec exists but this install cannot run it (e.g. Pillow built without the format)."""


@dataclass(frozen=True)
class CodecStatus:
    """Whether codec ``name`` runs in this install; ``reason`` says why not (empty when it does)."""

    name: str
    available: bool
    reason: str = ""


def register(codec: type[Codec]) -> type[Codec]:
    """Add ``codec`` (a :class:`Codec` subclass with a ``name``) to the registry; returns it."""
    if not (isinstance(codec, type) and issubclass(codec, Codec)):
        raise TypeError(f"codec must be a Codec subclass; got {codec!r}")
    if codec.name in CODECS and CODECS[codec.name] is not codec:
        raise ValueError(f"codec name {codec.name!r} is already registered to {CODECS[codec.name].__name__}")
    CODECS[codec.name] = codec
    return codec


for _codec in (JPEGCodec, WebPCodec, JPEG2000Codec, AVIFCodec, ThumbnailCodec, MeanColourCodec):
    register(_codec)


def options(name: str) -> dict[str, object]:
    """The options codec ``name`` takes, with their defaults."""
    _check_name(name)
    parameters = inspect.signature(CODECS[name].__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_name(name: str) -> None:
    if name not in CODECS:
        raise ValueError(f"codec name must be one of {sorted(CODECS)}; got {name!r}")


def available() -> list[CodecStatus]:
    """Every registered codec with whether this install can run it, and why not."""
    statuses = []
    for name, codec in CODECS.items():
        reason = codec.unavailable_reason()
        statuses.append(CodecStatus(name, reason is None, reason or ""))
    return statuses


def build(name: str, **settings) -> Codec:
    """The codec registered as ``name`` with ``settings`` (its keyword options; see :func:`options`).

    An unknown name is a ``ValueError``, an unknown option a ``TypeError``, a codec this install cannot
    run a :class:`CodecUnavailableError` (a ``ValueError``) with the reason.
    """
    known = options(name)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TypeError(f"codec {name!r} takes the options {sorted(known)}; got unknown option(s) {unknown}")
    reason = CODECS[name].unavailable_reason()
    if reason is not None:
        raise CodecUnavailableError(f"codec {name!r} is not available in this install: {reason}")
    return CODECS[name](**settings)
