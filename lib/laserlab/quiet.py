"""Silence the known chatter of the libraries laserlab drives, and nothing else.

Lightning prints info lines and advertisements on every ``Trainer`` ("GPU available: False, used: False",
"TPU available", "💡 Tip: ... litlogger / litmodels", "`Trainer.fit` stopped: ..."); in a notebook each
lands in its own red stderr box. Some dependencies also raise deprecation notices about their own code
that a laserlab user can do nothing about (:data:`KNOWN_WARNINGS`). :func:`quiet_library_chatter` sets
Lightning's loggers to WARNING and ignores exactly those notices, matched by message *and* module; any
other warning, and every Lightning warning or error, still shows.

It is called by :func:`laserlab.train.fit`, by :func:`laserlab.report.provenance` (every notebook's second
cell) and by the report runner, which also hands the same warning filters to each notebook's kernel
through ``PYTHONWARNINGS`` (:func:`pythonwarnings`), so notices raised while the first cell imports its
libraries are filtered too.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass

# Lightning's top-level loggers get level INFO and a stderr handler when Lightning is imported, so their
# level is set again on every call; the rank-zero loggers (every info line and tip goes through them) are
# not touched by that import, so their level also holds when this runs before Lightning is imported.
LIGHTNING_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "lightning_fabric",
    "pytorch_lightning",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
)


@dataclass(frozen=True)
class KnownWarning:
    """A warning to ignore: ``message`` is the literal start of its text, ``module`` the exact name of the
    module it is attributed to (the warning filter's ``module``)."""

    message: str
    category: type[Warning]
    module: str


KNOWN_WARNINGS = (
    # Lightning's own pytree helper still uses torch's deprecated LeafSpec check on every batch.
    KnownWarning(
        "`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "lightning.pytorch.utilities._pytree"
    ),
    # compressai scripts a few helpers with torch.jit.script when it is imported.
    KnownWarning("`torch.jit.script` is deprecated", FutureWarning, "torch.jit._script"),
)


def quiet_library_chatter() -> None:
    """Set Lightning's loggers to WARNING and ignore :data:`KNOWN_WARNINGS` in this process.

    Idempotent; call it after importing Lightning to cover every Lightning logger (before, the rank-zero
    info lines and tips are covered already).
    """
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for known in KNOWN_WARNINGS:
        warnings.filterwarnings(
            "ignore",
            message=re.escape(known.message),
            category=known.category,
            module=re.escape(known.module) + r"\Z",
        )


def pythonwarnings(existing: str = "") -> str:
    """A ``PYTHONWARNINGS`` value that ignores :data:`KNOWN_WARNINGS` from interpreter start-up, after the
    ``existing`` entries, for a child process such as a notebook kernel.

    The option separates its fields by ':' and its entries by ',', so each message is cut before the first
    of them; the prefix still has to match the start of the message, and the module exactly.
    """
    entries = [entry for entry in existing.split(",") if entry.strip()]
    for known in KNOWN_WARNINGS:
        prefix = re.split("[:,]", known.message, maxsplit=1)[0]
        entries.append(f"ignore:{prefix}:{known.category.__name__}:{known.module}")
    return ",".join(entries)
