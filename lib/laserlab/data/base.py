"""Shared base of every dataset: items are float image tensors (3, H, W) in [0, 1]."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """A dataset whose items are images, float32 (3, H, W) in [0, 1]; no labels.

    ``name`` is the registry key, ``split`` "train" or "test"; ``skipped_files`` maps each file that
    could not be read to the reason and ``skipped`` counts them (only folders can have any).
    """

    def __init__(self, *, name: str, split: str) -> None:
        self.name = name
        self.split = split
        self.skipped_files: dict[str, str] = {}

    @property
    def skipped(self) -> int:
        """How many files could not be read so far (see ``skipped_files``)."""
        return len(self.skipped_files)

    def __getitem__(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, len={len(self)})"
