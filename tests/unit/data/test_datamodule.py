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
    assert loader.state_dict() == {"epoch": 3}
    other_seed = ResumableLoader(torch.arange(8), batch_size=4, sampler=EpochShuffle(8, seed=6))
    assert [b.tolist() for b in other_seed] != epochs[0]
