import torch

from laserlab.data.datamodule import EpochShuffle, ResumableLoader


def test_epoch_shuffle_splits_ranks_disjointly_and_reshuffles_each_epoch():
    ranks = [EpochShuffle(10, seed=1, num_replicas=3, rank=r) for r in range(3)]
    first = [list(s) for s in ranks]
    assert all(len(share) == 3 for share in first)
    assert len({i for share in first for i in share}) == 9  # disjoint; 10th index dropped
    second = [list(s) for s in ranks]
    assert first != second and all(s.epoch == 2 for s in ranks)


def test_order_depends_only_on_seed_and_epoch_and_resumes_from_state():
    loader = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=5))
    epochs = [[b.tolist() for b in loader] for _ in range(3)]
    resumed = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=5))
    resumed.load_state_dict({"epoch": 2})
    assert [b.tolist() for b in resumed] == epochs[2]
    assert loader.state_dict() == {"epoch": 3, "batches_done": 0}
    other_seed = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=6))
    assert [b.tolist() for b in other_seed] != epochs[0]


def test_loader_resumes_inside_a_partly_trained_epoch():
    """A checkpoint written mid-epoch (max_steps reached) resumes with the rest of the same permutation."""
    data = torch.arange(12)
    loader = ResumableLoader(data, batch_size=3, sampler=EpochShuffle(12, seed=2), drop_last=True)
    first_epoch = [batch.tolist() for batch in loader]
    second_epoch = [batch.tolist() for batch in loader]
    partial = iter(loader)  # third epoch, one batch trained
    third_epoch_start = next(partial).tolist()
    loader.batches_done = lambda: 1
    state = loader.state_dict()
    assert state == {"epoch": 3, "batches_done": 1}

    resumed = ResumableLoader(data, batch_size=3, sampler=EpochShuffle(12, seed=2), drop_last=True)
    resumed.load_state_dict(state)
    assert len(resumed) == 4  # the trainer still counts the whole epoch
    rest = [batch.tolist() for batch in resumed]
    assert len(rest) == 3 and third_epoch_start not in rest
    reference = ResumableLoader(data, batch_size=3, sampler=EpochShuffle(12, seed=2), drop_last=True)
    reference_epochs = [[batch.tolist() for batch in reference] for _ in range(4)]
    assert reference_epochs[:2] == [first_epoch, second_epoch]
    assert reference_epochs[2] == [third_epoch_start, *rest]
    assert [batch.tolist() for batch in resumed] == reference_epochs[3]  # and the next epoch is whole


def test_a_finished_epoch_is_not_replayed():
    loader = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=5))
    list(loader)
    loader.batches_done = lambda: 2  # every batch of the epoch was trained on
    assert loader.state_dict() == {"epoch": 1, "batches_done": 0}
    resumed = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=5))
    resumed.load_state_dict({"epoch": 1})  # checkpoints written before batches_done existed
    assert resumed.sampler.epoch == 1 and resumed.sampler.skip == 0
