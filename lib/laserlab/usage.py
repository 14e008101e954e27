"""A process-wide record of the data and weights actually used, for report provenance.

Library code calls :func:`record` whenever it loads a dataset or network weights; when something other
than the real thing is used (random backbone weights, synthetic judgements, a fallback), it passes
``substituted=True`` with the reason, and a loud warning is emitted at once. The report's provenance
reads :func:`records` back.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class UsageRecord:
    kind: str  # "data" or "weights"
    name: str  # e.g. "samples/train", "vgg16 backbone"
    source: str  # where it came from: a path, "torchvision cache", "random init (weights=None)"
    substituted: bool = False
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class SubstitutionWarning(UserWarning):
    """Something other than the real data or weights is in use; results are not the published metric."""


_records: list[UsageRecord] = []


def record(kind: str, name: str, source: str, *, substituted: bool = False, reason: str = "") -> None:
    """Note that ``name`` (``kind`` "data" or "weights") was loaded from ``source``."""
    if kind not in ("data", "weights"):
        raise ValueError(f"kind must be 'data' or 'weights'; got {kind!r}")
    entry = UsageRecord(kind, name, source, substituted, reason)
    if entry in _records:
        return
    _records.append(entry)
    if substituted:
        warnings.warn(f"SUBSTITUTED {kind} for {name}: {source}. {reason}", SubstitutionWarning, stacklevel=3)


def records() -> list[UsageRecord]:
    return list(_records)


def clear() -> None:
    _records.clear()
