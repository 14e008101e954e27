"""DictionaryBottleneck on 2 CPU processes (gloo): every update rule keeps the ranks bit-identical."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from laserlab.bottlenecks import DictionaryBottleneck, update_bottlenecks

WORLD = 2
STEPS = 4

# Trained inside DDP (broadcast_buffers=False, so DDP cannot paper over unsynchronised buffers). A high
# dead-atom threshold makes revival run on every rule.
SCENARIOS = {
    "gradient": {"update_rule": "gradient", "dead_threshold": 0.08},
    "online": {"update_rule": "online", "dead_threshold": 0.08},
    "ksvd": {"update_rule": "ksvd", "dead_threshold": 0.08},
    "approx_ksvd": {"update_rule": "approx_ksvd", "dead_threshold": 0.08, "solver": "mp"},
    "kmeans_quantised": {"update_rule": "ksvd", "kmeans_init": True, "value_bits": 4},
}


def _images(rank, step):
    """Different data on each rank, and different batch sizes (2 and 3 images)."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    return torch.rand(2 + rank, 3, 8, 8, generator=g)


def _latents(rank, step):
    g = torch.Generator().manual_seed(5000 + 1000 * rank + step)
    return torch.randn(2 + rank, 4, 4, 4, generator=g) + 2 * rank


class TinyAutoencoder(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.encoder = nn.Conv2d(3, 4, 1)
        self.bottleneck = DictionaryBottleneck(16, 4, sparsity=2, patch_size=2, **options)
        self.decoder = nn.Conv2d(4, 3, 1)

    def forward(self, images):
        out = self.bottleneck(self.encoder(images))
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
        stats = update_bottlenecks(model, optimizer=optimizer)
        replaced.append(stats["module.bottleneck.replaced_entries"].item())
    state = {k: v.clone() for k, v in model.module.state_dict().items()}
    return {"state": state, "replaced": replaced}


def _bare_ksvd(rank):
    """K-SVD without DDP: the synchronised result must equal one process seeing all ranks' data."""
    bottleneck = DictionaryBottleneck(16, 4, sparsity=2, patch_size=2, update_rule="ksvd").double()
    for step in range(STEPS):
        bottleneck(_latents(rank, step).double())
        bottleneck.update()
    return bottleneck.dictionary.clone()


def _worker(rank, rendezvous, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    try:
        results = {"bare_ksvd": _bare_ksvd(rank)}
        results["ddp"] = {name: _train_in_ddp(rank, options) for name, options in SCENARIOS.items()}
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp_dictionary")
    mp.spawn(_worker, args=(str(folder / "rendezvous"), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_ranks_hold_bit_identical_dictionaries_after_training(ranks, scenario):
    first, second = (r["ddp"][scenario] for r in ranks)
    assert first["state"].keys() == second["state"].keys()
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), f"{scenario}: {key} differs between ranks"
    assert first["replaced"] == second["replaced"]
    if SCENARIOS[scenario].get("dead_threshold"):
        assert sum(first["replaced"]) > 0  # revival really ran
    torch.manual_seed(0)
    untrained = TinyAutoencoder(**SCENARIOS[scenario]).bottleneck.dictionary
    assert not torch.equal(first["state"]["bottleneck.dictionary"], untrained)
    assert int(first["state"]["bottleneck.update_steps"]) == STEPS


@pytest.mark.slow
def test_synchronised_ksvd_equals_one_process_seeing_all_data(ranks):
    reference = DictionaryBottleneck(16, 4, sparsity=2, patch_size=2, update_rule="ksvd").double()
    local = DictionaryBottleneck(16, 4, sparsity=2, patch_size=2, update_rule="ksvd").double()
    for step in range(STEPS):
        reference(torch.cat([_latents(r, step) for r in range(WORLD)]).double())
        reference.update()
        local(_latents(0, step).double())
        local.update()
    for result in ranks:
        assert torch.allclose(result["bare_ksvd"], reference.dictionary, atol=1e-12)
    assert not torch.allclose(local.dictionary, reference.dictionary, atol=1e-3)  # the ranks' data differ
