"""Lightning wrapper around :func:`laserlab.data.dataset`: train loader on ``split="train"``,
validation and test loaders on ``split="test"``.

The training order is a function of (seed, epoch) only (:class:`EpochShuffle`), and the train loader is
*resumable*: its ``state_dict`` (the epoch count and the batches training has consumed of the current
epoch) goes into Lightning checkpoints, so a run resumed from a checkpoint — written at an epoch's end, or
mid-epoch because ``max_steps`` was reached and the run is now continued to more steps — sees exactly the
batches the uninterrupted run saw. Lightning's own
``set_epoch`` bookkeeping is not used: after a restart from a checkpoint written in
``on_train_epoch_end`` it hands the sampler the finished epoch's number again. Under DDP each rank takes
its own disjoint share of every epoch (the trainer must use ``use_distributed_sampler=False``, as
:func:`laserlab.train.fit` does); validation runs on the whole test split on every rank. Every loader has
its own seeded generator, so creating one draws nothing from torch's global random state.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from . import dataset


class EpochShuffle(Sampler[int]):
    """Indices of a dataset of ``size`` items, shuffled by a permutation drawn from (seed, epoch).

    The permutation is cut to a multiple of ``num_replicas`` and rank ``rank`` takes every
    ``num_replicas``-th index from position ``rank``, so ranks see disjoint, equally long shares.
    ``epoch`` counts the iterations started (Lightning stops fetching after ``len(loader)`` batches, so
    the end of an iteration is never seen). ``skip`` items are left out of the start of the next
    iteration only (the part of an epoch a resumed run has already trained on); ``len`` stays the full
    share, so the trainer keeps counting the epoch's batches as the uninterrupted run did.
    """

    def __init__(self, size: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas) = [0, {num_replicas}); got {rank}")
        self.size, self.seed, self.num_replicas, self.rank = size, seed, num_replicas, rank
        self.epoch = 0
        self.skip = 0

    def __len__(self) -> int:
        return self.size // self.num_replicas

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)[: len(self) * self.num_replicas]
        self.epoch += 1
        skip, self.skip = self.skip, 0
        return iter(order[self.rank :: self.num_replicas][skip:].tolist())


class ResumableLoader(DataLoader):
    """A DataLoader over an :class:`EpochShuffle` whose ``state_dict`` Lightning saves in checkpoints and
    restores on resume: the sampler's epoch and the batches of the current epoch training has consumed.

    ``batches_done`` reports those consumed batches (the trainer's count; the loader itself cannot tell,
    since Lightning fetches one batch ahead). A checkpoint written when ``max_steps`` stopped training
    mid-epoch thus resumes inside that epoch: the same permutation, minus the batches already trained on.
    """

    def __init__(self, *args, batches_done: Callable[[], int] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done

    def state_dict(self) -> dict:
        done = self.batches_done() if self.batches_done is not None else 0
        return {"epoch": self.sampler.epoch, "batches_done": done if done < len(self) else 0}

    def load_state_dict(self, state: dict) -> None:
        done = int(state.get("batches_done", 0))
        # a partly trained epoch is replayed from its own permutation, without its first `done` batches
        self.sampler.epoch = int(state["epoch"]) - (1 if done else 0)
        self.sampler.skip = done * self.batch_size


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
        sampler = EpochShuffle(len(self.train_set), seed=self.seed, num_replicas=replicas, rank=rank)
        return ResumableLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
            drop_last=len(sampler) >= self.batch_size,
            batches_done=self._batches_done if trainer is not None else None,
        )

    def _batches_done(self) -> int:
        """Training batches completed in the current epoch (Lightning's count; it fetches one ahead)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.completed

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.test_set,
            batch_size=self.batch_size,
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
        )

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
