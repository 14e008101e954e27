import warnings

import pytest
import torch
from torch import nn

from laserlab.bottlenecks import (
    BOTTLENECKS,
    Bottleneck,
    BottleneckOutput,
    DictionaryBottleneck,
    VectorQuantizer,
    build,
    derive_seed,
    reset_optimizer_rows,
    update_bottlenecks,
)


class Rounding(Bottleneck):
    """A minimal bottleneck: rounds the latent to the levels 0 … 255; its update records its context."""

    def __init__(self, dim, *, stateful=True):
        super().__init__(dim, 256)
        self.register_buffer("levels", torch.arange(256.0))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.stateful = stateful
        self.seen_context = None

    @property
    def entries(self):
        return self.levels

    @property
    def bits_per_token(self):
        return 8.0

    @property
    def needs_update(self):
        return self.stateful

    def _forward(self, latent):
        rounded = latent.round().clamp(0, 255)
        quantized = rounded.detach() + (latent - latent.detach())
        return BottleneckOutput(quantized, (quantized - latent).square().mean(), rounded.long(), {})

    def _encode(self, latent):
        return latent.round().clamp(0, 255).long()

    def check_codes(self, codes, name="codes"):
        if not isinstance(codes, torch.Tensor) or codes.dtype != torch.long:
            raise TypeError(f"{name} must be a long tensor")

    def _decode(self, codes):
        return self.levels[codes]

    def _apply_updates(self, optimizer):
        self.seen_context = (torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), optimizer)
        self.steps += 1
        return {"steps": self.steps.clone()}


def test_bottleneck_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Bottleneck(4, 8)


def test_encode_and_decode_validate_and_round_trip():
    rounding = Rounding(3)
    latent = torch.rand(2, 3, 4, 5, requires_grad=True) * 200
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = rounding.encode(latent)
    assert codes.dtype == torch.long and not codes.requires_grad
    assert torch.equal(rounding.decode(codes), rounding.eval()(latent).quantized.detach())
    with pytest.raises(ValueError, match=r"\(B, dim, H, W\) = \(B, 3, H, W\)"):
        rounding.encode(torch.zeros(2, 4, 4, 4))
    with pytest.raises(TypeError, match="codes must be a long tensor"):
        rounding.decode(torch.zeros(2, 4, 4))


def test_derive_seed_is_reproducible_and_separates_streams():
    assert derive_seed(7, 1) == derive_seed(7, 1)
    seeds = {derive_seed(7, stream) for stream in range(5)} | {derive_seed(8, 1), derive_seed(7, 1, 2)}
    assert len(seeds) == 7 and all(0 <= seed < 2**63 for seed in seeds)


def test_a_latent_more_precise_than_the_bottleneck_is_refused():
    with pytest.raises(
        TypeError, match=r"latent is torch.float64 but the Rounding computes in torch.float32"
    ):
        Rounding(2).in_compute_dtype(torch.zeros(1, 2, 1, 1, dtype=torch.float64))
    upcast = Rounding(2).in_compute_dtype(torch.zeros(1, 2, 1, 1, dtype=torch.bfloat16))
    assert upcast.dtype == torch.float32


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"dead_threshold": 1.5}, ValueError, r"dead_threshold must be a finite number in \[0, 1\]"),
        ({"dead_threshold": "0.1"}, TypeError, "dead_threshold"),
        ({"usage_decay": 1}, ValueError, r"usage_decay must be a finite number in \(0, 1\)"),
        ({"kmeans_init": "yes"}, TypeError, "kmeans_init must be a bool"),
        ({"kmeans_iters": 1.5}, TypeError, "kmeans_iters"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
    ],
)
def test_shared_options_are_checked_the_same_way_on_every_bottleneck(options, error, message):
    with pytest.raises(error, match=message):
        VectorQuantizer(8, 3, **options)
    with pytest.raises(error, match=message):
        DictionaryBottleneck(8, 3, sparsity=1, **options)


def test_every_bottleneck_reports_the_same_statistics():
    latent = torch.randn(2, 3, 4, 4)
    keys = {"perplexity", "usage", "sparsity", "dead_entries", "quantization_error", "bits_per_token"}
    assert set(VectorQuantizer(8, 3)(latent).stats) == keys
    assert set(DictionaryBottleneck(8, 3, sparsity=2)(latent).stats) == keys
    assert VectorQuantizer(8, 3)(latent).stats["sparsity"].item() == 1.0
    assert VectorQuantizer(8, 3).num_entries == DictionaryBottleneck(8, 3, sparsity=2).num_entries == 8
    assert VectorQuantizer(8, 3).patch_size == 1


def test_forward_returns_the_dataclass_with_the_input_shape():
    out = Rounding(3)(torch.randn(2, 3, 4, 5, requires_grad=True))
    assert isinstance(out, BottleneckOutput)
    assert out.quantized.shape == (2, 3, 4, 5)
    assert out.loss.dim() == 0
    assert out.stats == {}


@pytest.mark.parametrize(
    ("latent", "error", "message"),
    [
        ([[1.0]], TypeError, "latent must be a torch.Tensor"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.long), TypeError, "floating-point dtype"),
        (torch.zeros(3, 4, 4), ValueError, r"\(B, dim, H, W\) = \(B, 3, H, W\); got \(3, 4, 4\)"),
        (torch.zeros(2, 3, 4, 4, 1), ValueError, r"\(B, dim, H, W\) = \(B, 3, H, W\)"),
        (torch.zeros(2, 5, 4, 4), ValueError, r"= \(B, 3, H, W\); got \(2, 5, 4, 4\)"),
        (torch.zeros(0, 3, 4, 4), ValueError, "at least one position"),
        (torch.zeros(2, 3, 4, 0), ValueError, "at least one position"),
        (torch.tensor(float("nan")).expand(1, 3, 2, 2), ValueError, "latent must be finite"),
        (torch.tensor(float("inf")).expand(1, 3, 2, 2), ValueError, "latent must be finite"),
    ],
)
def test_bad_latents_are_named(latent, error, message):
    with pytest.raises(error, match=message):
        Rounding(3)(latent)


def test_update_runs_without_grad_and_outside_autocast():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), Rounding(3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.is_grad_enabled() and torch.is_autocast_enabled("cpu")
        stats = update_bottlenecks(model, optimizer=optimizer)
    assert model[1].seen_context == (False, False, optimizer)
    assert stats == {"1.steps": torch.tensor(1)}


def test_update_bottlenecks_finds_every_bottleneck_and_names_their_stats():
    model = nn.ModuleDict({"coarse": Rounding(2), "fine": nn.Sequential(nn.Identity(), Rounding(2))})
    stats = update_bottlenecks(model)
    assert set(stats) == {"coarse.steps", "fine.1.steps"}
    assert update_bottlenecks(Rounding(2)) == {"steps": torch.tensor(1)}
    assert update_bottlenecks(nn.Linear(2, 2)) == {}


def test_forwards_without_update_warn_once_when_updates_are_needed():
    latent = torch.randn(1, 2, 2, 2)
    stateful = Rounding(2)
    with pytest.warns(RuntimeWarning, match="update_bottlenecks"):
        for _ in range(Bottleneck.FORWARDS_BEFORE_WARNING):
            stateful(latent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stateful(latent)  # once is enough
        Rounding(2, stateful=False).train()(latent)
        evaluating = Rounding(2).eval()
        for _ in range(Bottleneck.FORWARDS_BEFORE_WARNING + 1):
            evaluating(latent)
        updated = Rounding(2)
        for _ in range(3 * Bottleneck.FORWARDS_BEFORE_WARNING):
            updated(latent)
            updated.update()


def _stepped_adam(parameter):
    optimizer = torch.optim.Adam([parameter], lr=0.1)
    parameter.grad = torch.ones_like(parameter)
    optimizer.step()
    return optimizer


def test_reset_optimizer_rows_zeroes_only_those_rows():
    parameter = nn.Parameter(torch.randn(5, 3))
    optimizer = _stepped_adam(parameter)
    reset_optimizer_rows(optimizer, parameter, torch.tensor([1, 3]))
    state = optimizer.state[parameter]
    for key in ("exp_avg", "exp_avg_sq"):
        assert (state[key][[1, 3]] == 0).all()
        assert (state[key][[0, 2, 4]] != 0).all()
    assert float(state["step"]) == 1  # a per-parameter scalar, left alone

    mask = torch.tensor([True, False, False, False, True])
    momentum = nn.Parameter(torch.randn(5, 3))
    sgd = torch.optim.SGD([momentum], lr=0.1, momentum=0.9)
    momentum.grad = torch.ones_like(momentum)
    sgd.step()
    reset_optimizer_rows(sgd, momentum, mask)
    buffer = sgd.state[momentum]["momentum_buffer"]
    assert (buffer[mask] == 0).all() and (buffer[~mask] != 0).all()

    untouched = nn.Parameter(torch.randn(5, 3))
    reset_optimizer_rows(optimizer, untouched, mask)  # no state for it: nothing to do
    assert untouched not in optimizer.state


def test_build_uses_the_registry():
    vq = build("vq", num_codes=8, dim=4, ema_decay=0.9)
    assert isinstance(vq, VectorQuantizer) and vq.num_codes == 8 and vq.ema_decay == 0.9
    assert BOTTLENECKS["vq"] is VectorQuantizer
    with pytest.raises(ValueError, match=r"must be one of \[.*'vq'.*\]; got 'kmeans'"):
        build("kmeans", num_codes=8, dim=4)
    with pytest.raises(ValueError, match=r"bottleneck 'vq' has no option\(s\) \['colour'\]; valid options: "):
        build("vq", num_codes=8, dim=4, colour="red")


@pytest.mark.parametrize(
    "make",
    [
        lambda: VectorQuantizer(8, 3, seed=1),
        lambda: VectorQuantizer(8, 3, ema_decay=0.9, seed=1),
        lambda: DictionaryBottleneck(8, 3, sparsity=2, update_rule="ksvd", dead_threshold=0.0),
    ],
)
def test_tracked_usage_is_the_share_of_tokens_whatever_the_batch_size(make):
    latent = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    small, large = make().double(), make().double()
    out = small(latent)
    small.update()
    large(torch.cat([latent, latent, latent]))
    large.update()
    torch.testing.assert_close(small.entry_usage(), large.entry_usage(), rtol=1e-12, atol=0)
    # a token uses one codeword, or the atoms of its code
    assert small.entry_usage().sum().item() == pytest.approx(out.stats["sparsity"].item())
