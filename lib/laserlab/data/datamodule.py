"""Lightning wrapper around :func:`laserlab.data.dataset`: train loader on ``split="train"``,
validation and test loaders on ``split="test"``."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from . import dataset


class ImageDataModule(L.LightningDataModule):
    def __init__(
        self,
        name: str = "samples",
        *,
        image_size: int = 64,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        **options,
    ) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        self.name, self.image_size, self.batch_size = name, image_size, batch_size
        self.num_workers, self.seed, self.options = num_workers, seed, options
        self.train_set = self.test_set = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            kwargs = dict(image_size=self.image_size, seed=self.seed, **self.options)
            self.train_set = dataset(self.name, split="train", **kwargs)
            self.test_set = dataset(self.name, split="test", **kwargs)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            generator=generator,
            num_workers=self.num_workers,
            drop_last=len(self.train_set) >= self.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
