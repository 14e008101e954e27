"""Synchronisation helpers, alone and on 2 CPU processes (gloo) that train quantisers on different data."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from laserlab.bottlenecks import VectorQuantizer, derive_seed, distributed, update_bottlenecks
from laserlab.bottlenecks.vq import _KMEANS_STREAM
from laserlab.sparse import kmeans

WORLD = 2
STEPS = 4

# Trained inside DDP (broadcast_buffers=False, so DDP cannot paper over unsynchronised buffers). A step sees
# 30 + 45 = 75 tokens: a dead threshold of 0.04 is 3 of them.
SCENARIOS = {
    "ema": {"ema_decay": 0.8},
    "ema_dead_entries": {"ema_decay": 0.8, "dead_threshold": 0.04},
    "gradient_dead_entries": {"dead_threshold": 0.04},
    "kmeans_init": {"ema_decay": 0.8, "kmeans_init": True},
    "everything": {
        "ema_decay": 0.9, "kmeans_init": True, "dead_threshold": 0.16, "cosine": True, "code_dim": 3,
        "rotation_trick": True,
    },
}  # fmt: skip


def _images(rank, step):
    """Different data on each rank, and different batch sizes (2 and 3 images)."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    return torch.rand(2 + rank, 3, 6, 5, generator=g)


def _latents(rank, step, dim=4):
    g = torch.Generator().manual_seed(5000 + 1000 * rank + step)
    return torch.randn(2 + rank, dim, 3, 4, generator=g) + 3 * rank  # rank 1's data lives elsewhere


class TinyAutoencoder(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.encoder = nn.Conv2d(3, 4, 1)
        self.quantizer = VectorQuantizer(16, 4, **options)
        self.decoder = nn.Conv2d(4, 3, 1)

    def forward(self, images):
        out = self.quantizer(self.encoder(images))
        return self.decoder(out.quantized), out


def _train_in_ddp(rank, options):
    torch.manual_seed(0)
    model = DistributedDataParallel(TinyAutoencoder(**options), broadcast_buffers=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    replaced = []
    for step in range(STEPS):
        images = _images(rank, step)
        recon, out = model(images)
        (F.mse_loss(recon, images) + out.loss).backward()
        optimizer.step()
        optimizer.zero_grad()
        replaced.append(
            update_bottlenecks(model, optimizer=optimizer)["module.quantizer.replaced_entries"].item()
        )
    state = {k: v.clone() for k, v in model.module.state_dict().items()}
    return {"state": state, "replaced": replaced}


def _bare_quantizer_runs(rank):
    """Quantisers without DDP: the synchronised result must equal one process seeing all ranks' data."""
    ema = VectorQuantizer(16, 4, ema_decay=0.8)
    for step in range(STEPS):
        ema(_latents(rank, step))
        ema.update()
    initialised = VectorQuantizer(16, 4, ema_decay=0.8, kmeans_init=True, seed=7)
    initialised(_latents(rank, 0))
    return {"ema": ema.codebook.clone(), "kmeans": initialised.codebook.clone()}


def _helper_results(rank):
    total, counts = torch.full((3,), rank + 1.0), torch.tensor([rank, 10])
    distributed.all_reduce_sum_(total, counts)
    mean = torch.tensor([2.0 * rank, 4.0])
    distributed.all_reduce_mean_(mean)
    value = torch.tensor([rank + 5.0])
    distributed.broadcast_(value)
    gathered = distributed.all_gather_rows(torch.full((2 * rank + 1, 2), float(rank)))
    draws = torch.randint(1000, (5,), generator=distributed.shared_generator(100 + rank))
    return {
        "total": total, "counts": counts, "mean": mean, "broadcast": value, "gathered": gathered,
        "draws": draws, "world_size": distributed.world_size(), "rank": distributed.rank(),
    }  # fmt: skip


def _worker(rank, rendezvous, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    try:
        results = {"helpers": _helper_results(rank), "bare": _bare_quantizer_runs(rank)}
        results["ddp"] = {name: _train_in_ddp(rank, options) for name, options in SCENARIOS.items()}
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(folder / "rendezvous"), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.mark.slow
def test_helpers_reduce_broadcast_and_gather_across_ranks(ranks):
    for r, result in enumerate(ranks):
        h = result["helpers"]
        assert (h["world_size"], h["rank"]) == (WORLD, r)
        assert torch.equal(h["total"], torch.full((3,), 3.0)) and h["counts"].tolist() == [1, 20]
        assert h["mean"].tolist() == [1.0, 4.0]
        assert h["broadcast"].tolist() == [5.0]
        assert h["gathered"].tolist() == [[0.0, 0.0]] + [[1.0, 1.0]] * 3  # 1 row from rank 0, 3 from rank 1
        expected = torch.randint(1000, (5,), generator=torch.Generator().manual_seed(100))  # rank 0's seed
        assert torch.equal(h["draws"], expected)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_ranks_hold_bit_identical_state_after_training(ranks, scenario):
    first, second = (r["ddp"][scenario] for r in ranks)
    assert first["state"].keys() == second["state"].keys()
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), f"{scenario}: {key} differs between ranks"
    assert first["replaced"] == second["replaced"]
    if SCENARIOS[scenario].get("dead_threshold"):
        assert sum(first["replaced"]) > 0  # replacement really ran
    torch.manual_seed(0)
    untrained = TinyAutoencoder(**SCENARIOS[scenario]).quantizer.codebook
    assert not torch.equal(first["state"]["quantizer.codebook"], untrained)
    assert int(first["state"]["quantizer.update_steps"]) == STEPS


@pytest.mark.slow
def test_synchronised_ema_equals_one_process_seeing_all_data(ranks):
    reference = VectorQuantizer(16, 4, ema_decay=0.8)
    for step in range(STEPS):
        reference(torch.cat([_latents(r, step) for r in range(WORLD)]))
        reference.update()
    for result in ranks:
        assert torch.allclose(result["bare"]["ema"], reference.codebook, rtol=1e-5, atol=1e-6)
    local = VectorQuantizer(16, 4, ema_decay=0.8)
    for step in range(STEPS):
        local(_latents(0, step))
        local.update()
    assert not torch.allclose(local.codebook, reference.codebook, atol=1e-2)  # the ranks' data really differ


@pytest.mark.slow
def test_kmeans_init_equals_one_process_on_the_gathered_batch(ranks):
    data = torch.cat([_latents(r, 0) for r in range(WORLD)]).permute(0, 2, 3, 1).reshape(-1, 4)
    generator = torch.Generator().manual_seed(derive_seed(7, _KMEANS_STREAM))
    expected = kmeans(data, 16, iterations=10, start="random", generator=generator).centroids
    for result in ranks:
        assert torch.equal(result["bare"]["kmeans"], expected)


def test_helpers_are_no_ops_without_a_process_group():
    assert not distributed.is_distributed()
    assert (distributed.world_size(), distributed.rank()) == (1, 0)
    x = torch.arange(6.0).view(3, 2)
    counts = torch.tensor([1, 2])
    distributed.all_reduce_sum_(x, counts)
    distributed.all_reduce_mean_(x)
    distributed.broadcast_(x, counts)
    assert torch.equal(x, torch.arange(6.0).view(3, 2)) and counts.tolist() == [1, 2]
    assert distributed.all_gather_rows(x) is x
    draws = torch.rand(3, generator=distributed.shared_generator(5))
    assert torch.equal(draws, torch.rand(3, generator=torch.Generator().manual_seed(5)))
    with pytest.raises(TypeError, match="floating-point"):
        distributed.all_reduce_mean_(counts)
