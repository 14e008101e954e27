"""Checkpoint files: atomic writing, and reading with clear errors.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in the
system temp folder; committing it is ``shutil.move``, a copy when that folder is on another file system,
and nothing is fsynced, so a kill or a power cut can leave a truncated ``last.ckpt``.
:class:`AtomicCheckpointIO` writes a temporary file next to the target, fsyncs it, renames it over the
target with ``os.replace`` (atomic on POSIX and Windows) and fsyncs the folder: a reader sees the old
checkpoint or the new one, never a mixture. :func:`read_checkpoint` verifies a checkpoint's CRCs before
loading it and turns any failure into a ``ValueError`` naming the file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read_checkpoint(path: str | Path, *, weights_only: bool = True) -> dict:
    """The Lightning checkpoint at ``path`` (a dict with a ``state_dict``), loaded on the CPU.

    Reads the file once to verify the CRC32 of every entry of torch's zip format (a flipped bit in the
    weights would otherwise load silently), then loads it with ``torch.load(weights_only=...)`` (plain
    containers and tensors only, by default). A missing, truncated, corrupt or non-checkpoint file is a
    ``ValueError`` naming ``path``, instead of a bare torch, zip or pickle error.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise ValueError(f"entry {damaged!r} fails its CRC32 check")
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ValueError("it holds no Lightning checkpoint (no 'state_dict')")
    except Exception as error:  # torch, zip and pickle raise many types for a damaged file
        raise ValueError(f"checkpoint {str(path)!r} is truncated or corrupt ({error})") from error
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO whose local saves are atomic (:func:`atomic_save`); remote URLs
    (``s3://``, ...) go through Lightning's own writer."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, path)
