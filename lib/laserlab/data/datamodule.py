"""Lightning wrapper around :func:`laserlab.data.dataset`: train loader on ``split="train"``,
validation and test loaders on ``split="test"``.

The training order is a function of (seed, epoch) only — a ``DistributedSampler`` over this process's
share of the ranks, reshuffled by ``set_epoch`` (Lightning calls it each epoch) — so a run resumed from a
checkpoint sees the batches the uninterrupted run would have seen, and under DDP each rank gets its own
disjoint share. Every loader has its own seeded generator, so creating one draws nothing from torch's
global random state.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

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
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = DistributedSampler(
            self.train_set, num_replicas=replicas, rank=rank, shuffle=True, seed=self.seed, drop_last=True
        )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
            drop_last=len(sampler) >= self.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.test_set,
            batch_size=self.batch_size,
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
        )

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
