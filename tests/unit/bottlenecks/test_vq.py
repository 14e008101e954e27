import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from laserlab.bottlenecks import VectorQuantizer, update_bottlenecks
from laserlab.bottlenecks.vq import rotation_trick

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def _latent(*shape, seed=0, dtype=torch.float32, device="cpu", requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device).requires_grad_(requires_grad)


def _tokens(latent):
    return latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1])


def _blobs(n_per_cluster, centers, *, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.as_tensor(centers, dtype=torch.float64)
    points = centers.repeat_interleave(n_per_cluster, 0)
    return points + spread * torch.randn(points.shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("num_codes", "bits"), [(16, 4.0), (512, 9.0), (10, math.log2(10)), (1, 0.0)])
def test_bits_per_token_is_log2_of_the_codebook_size(num_codes, bits):
    vq = VectorQuantizer(num_codes, 4)
    assert vq.bits_per_token == pytest.approx(bits)
    assert vq(_latent(1, 4, 2, 2)).stats["bits_per_token"].item() == pytest.approx(bits)


def test_stats_of_a_forward():
    vq = VectorQuantizer(4, 2)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]]))
    tokens = torch.tensor(
        [[0.1, 0.0], [0.0, 0.0], [9.9, 0.1], [0.2, 10.3]]
    )  # positions (0,0) (0,1) (1,0) (1,1)
    latent = tokens.T.reshape(1, 2, 2, 2)
    out = vq(latent)
    assert out.codes.tolist() == [[[0, 0], [1, 2]]]
    expected_error = (_tokens(latent) - vq.codebook[out.codes.flatten()]).square().mean()
    assert out.stats["perplexity"].item() == pytest.approx(2**1.5)
    assert out.stats["usage"].item() == 0.75
    assert out.stats["dead_entries"].item() == 1  # before any update: the unused code
    assert out.stats["quantization_error"].item() == pytest.approx(expected_error.item())
    assert all(v.dim() == 0 and not v.requires_grad for v in out.stats.values())


# ------------------------------------------------------------------ every option combination
OPTIONS = list(
    itertools.product([None, 0.9], [False, True], [None, 3], [False, True], [False, True], [0.0, 0.05])
)


@pytest.mark.parametrize(("ema", "cosine", "code_dim", "rotation", "kmeans_init", "threshold"), OPTIONS)
def test_training_forward_passes_gradients_and_a_finite_loss(
    ema, cosine, code_dim, rotation, kmeans_init, threshold
):
    vq = VectorQuantizer(
        8, 6, ema_decay=ema, cosine=cosine, code_dim=code_dim, rotation_trick=rotation,
        kmeans_init=kmeans_init, dead_threshold=threshold,
    )  # fmt: skip
    optimizer = torch.optim.Adam(vq.parameters(), lr=1e-2) if list(vq.parameters()) else None
    for step in range(3):
        latent = _latent(2, 6, 3, 5, seed=step, requires_grad=True)
        out = vq(latent)
        assert out.quantized.shape == latent.shape and out.quantized.dtype == latent.dtype
        assert out.quantized.is_contiguous()
        assert out.codes.shape == (2, 3, 5) and out.codes.dtype == torch.long
        assert int(out.codes.min()) >= 0 and int(out.codes.max()) < 8
        assert out.loss.dim() == 0 and torch.isfinite(out.loss)
        (out.quantized.square().sum() + out.loss).backward()
        assert latent.grad is not None and torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0
        if ema is None:
            assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0
        else:
            assert "codebook" not in dict(vq.named_parameters()) and not vq.codebook.requires_grad
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad()
        vq.update(optimizer=optimizer)
        assert torch.isfinite(vq.codebook).all()


# ------------------------------------------------------------------ estimators and losses
@pytest.mark.parametrize("cosine", [False, True])
@pytest.mark.parametrize("rotation", [False, True])
def test_quantized_value_is_exactly_the_codeword(cosine, rotation):
    vq = VectorQuantizer(16, 5, cosine=cosine, rotation_trick=rotation)
    out = vq(_latent(3, 5, 4, 4, requires_grad=True))
    assert torch.equal(out.quantized, vq.decode(out.codes))


def test_straight_through_gradient_is_the_identity():
    vq = VectorQuantizer(16, 5, ema_decay=0.9, commitment=0.0)
    latent = _latent(2, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    vq.double()
    upstream = _latent(2, 5, 3, 3, seed=7, dtype=torch.float64)
    (vq(latent).quantized * upstream).sum().backward()
    assert torch.equal(latent.grad, upstream)


def _plane_rotation(u, q):
    """The rotation taking unit u to unit q in their plane, identity on the complement, from a basis."""
    b = F.normalize(q - (q @ u) * u, dim=0)
    cos, sin = q @ u, q @ b
    eye = torch.eye(u.numel(), dtype=u.dtype)
    return (
        eye
        + (cos - 1) * (torch.outer(u, u) + torch.outer(b, b))
        + sin * (torch.outer(b, u) - torch.outer(u, b))
    )


def test_rotation_trick_value_and_gradient_match_an_explicit_rotation():
    x = _latent(6, 4, seed=1, dtype=torch.float64, requires_grad=True)
    codewords = _latent(6, 4, seed=2, dtype=torch.float64) * 3
    upstream = _latent(6, 4, seed=3, dtype=torch.float64)
    out = rotation_trick(x, codewords)
    assert torch.equal(out, codewords)
    (out * upstream).sum().backward()
    for i in range(6):
        u, q = F.normalize(x[i].detach(), dim=0), F.normalize(codewords[i], dim=0)
        rotation = _plane_rotation(u, q)
        assert torch.allclose(rotation @ u, q)
        scale = codewords[i].norm() / x[i].detach().norm()
        assert torch.allclose(x.grad[i], scale * rotation.T @ upstream[i], atol=1e-12)


def test_losses_without_ema_train_the_codebook_and_commit_the_encoder():
    vq = VectorQuantizer(8, 3, commitment=0.25).double()
    latent = _latent(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    out = vq(latent)
    x, e = _tokens(latent.detach()), vq.codebook.detach()[out.codes.flatten()]
    error = (x - e).square().mean()
    assert out.loss.item() == pytest.approx(1.25 * error.item(), rel=1e-12)
    out.loss.backward()
    # codebook term: d/de mean‖e − sg(x)‖² ; commitment term: 0.25 · d/dx mean‖x − sg(e)‖²
    expected_codebook_grad = torch.zeros_like(vq.codebook).index_add_(
        0, out.codes.flatten(), 2 * (e - x) / x.numel()
    )
    assert torch.allclose(vq.codebook.grad, expected_codebook_grad)
    expected_latent_grad = 0.25 * 2 * (x - e) / x.numel()
    assert torch.allclose(_tokens(latent.grad), expected_latent_grad)


def test_ema_loss_is_only_the_commitment_and_the_codebook_gets_no_optimizer_gradient():
    vq = VectorQuantizer(8, 3, ema_decay=0.9, commitment=0.25)
    latent = _latent(2, 3, 4, 4, requires_grad=True)
    out = vq(latent)
    error = (_tokens(latent.detach()) - vq.codebook[out.codes.flatten()]).square().mean()
    assert out.loss.item() == pytest.approx(0.25 * error.item(), rel=1e-6)
    assert list(vq.parameters()) == [] and vq.codebook.grad is None
    out.loss.backward()
    assert vq.codebook.grad is None


# ------------------------------------------------------------------ EMA
def test_ema_update_matches_the_laplace_smoothed_formula():
    decay, eps = 0.8, 1e-5
    vq = VectorQuantizer(6, 3, ema_decay=decay, laplace_epsilon=eps).double()
    vq.codebook[5] += 100.0  # never chosen
    before = vq.codebook.clone()
    latent = _latent(2, 3, 4, 4, dtype=torch.float64)
    codes = vq(latent).codes.flatten()
    x = _tokens(latent)
    counts = torch.bincount(codes, minlength=6).double()
    sums = torch.zeros(6, 3, dtype=torch.float64).index_add_(0, codes, x)
    vq.update()
    n = (1 - decay) * counts
    smoothed = (n + eps) / (n.sum() + 6 * eps) * n.sum()
    expected = torch.where((counts > 0)[:, None], (1 - decay) * sums / smoothed[:, None], before)
    assert (counts == 0).any()  # unused codes exist and keep their value
    assert torch.allclose(vq.codebook, expected, rtol=1e-12)
    # bias-corrected: exactly this batch's share of the tokens
    assert torch.allclose(vq.entry_usage(), counts / codes.numel(), rtol=1e-12)


@pytest.mark.parametrize("cosine", [False, True])
def test_ema_changes_the_codebook_and_lowers_the_error_on_a_fixed_batch(cosine):
    vq = VectorQuantizer(16, 4, ema_decay=0.8, cosine=cosine)
    latent = _latent(4, 4, 8, 8, seed=5)
    errors, codebooks = [], []
    for _ in range(15):
        errors.append(vq(latent).stats["quantization_error"].item())
        codebooks.append(vq.codebook.clone())
        vq.update()
    assert not torch.equal(codebooks[0], codebooks[-1])
    assert errors[-1] < 0.7 * errors[0]
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(errors[3:]))
    if cosine:
        assert torch.allclose(vq.codebook.norm(dim=1), torch.ones(16))


def test_accumulated_forwards_are_applied_together_by_one_update():
    first, second = _latent(2, 3, 4, 4, seed=1), _latent(3, 3, 4, 4, seed=2)
    accumulated, joint = (VectorQuantizer(8, 3, ema_decay=0.9).double() for _ in range(2))
    accumulated(first.double())
    accumulated(second.double())
    accumulated.update()
    joint(torch.cat([first, second]).double())
    joint.update()
    assert torch.allclose(accumulated.codebook, joint.codebook, rtol=1e-12)
    assert torch.allclose(accumulated.ema_counts, joint.ema_counts)


def test_evaluation_forwards_change_no_state():
    vq = VectorQuantizer(8, 3, ema_decay=0.9, kmeans_init=True, dead_threshold=0.2).eval()
    state = {k: v.clone() for k, v in vq.state_dict().items()}
    vq(_latent(2, 3, 4, 4))
    assert vq.update() == {}
    assert all(torch.equal(state[k], v) for k, v in vq.state_dict().items())


def test_kmeans_init_sets_the_codebook_from_the_first_training_batch():
    latent = _blobs(30, [[0, 0], [5, 0], [0, 5], [5, 5]], seed=2).float().T.reshape(1, 2, 12, 10)
    vq = VectorQuantizer(4, 2, ema_decay=0.9, kmeans_init=True, seed=3)
    random_codebook = vq.codebook.clone()
    vq.eval()
    vq(latent)  # a validation pass first (e.g. Lightning's sanity check) does not initialise
    assert torch.equal(vq.codebook, random_codebook) and not bool(vq.initialized)
    vq.train()
    out = vq(latent)
    assert bool(vq.initialized)
    centers = torch.tensor([[0.0, 0], [5, 0], [0, 5], [5, 5]])
    assert torch.cdist(centers, vq.codebook).min(1).values.max() < 0.05
    assert out.stats["usage"].item() == 1.0
    assert torch.allclose(vq.entry_usage(), torch.full((4,), 0.25))  # the cluster sizes' shares
    initialised = vq.codebook.clone()
    vq(latent + 100)  # never again
    assert torch.equal(vq.codebook, initialised)


# ------------------------------------------------------------------ dead codes
@pytest.mark.parametrize("ema", [None, 0.9])
def test_dead_entries_are_replaced_by_batch_vectors(ema):
    vq = VectorQuantizer(8, 3, ema_decay=ema, dead_threshold=1 / 32).double()  # one of the 32 tokens
    with torch.no_grad():
        vq.codebook[4:] += 1000.0  # far away: never chosen
    latent = _latent(2, 3, 4, 4, dtype=torch.float64)
    optimizer = torch.optim.Adam(vq.parameters(), lr=0.1) if ema is None else None
    out = vq(latent)
    if optimizer is not None:
        out.loss.backward()
        optimizer.step()
        optimizer.state[vq.codebook]["exp_avg"].fill_(1.0)  # make the reset visible
    stats = vq.update(optimizer=optimizer)
    used = torch.bincount(out.codes.flatten(), minlength=8) > 0
    assert not used[4:].any()
    assert stats["replaced_entries"].item() == int((~used).sum())
    tokens = _tokens(latent)
    for code in (~used).nonzero().flatten():
        assert (tokens - vq.codebook[code]).abs().amax(1).min() == 0  # a vector of the batch
        assert vq.entry_usage()[code].item() == pytest.approx(1 / 32)  # restarts at the threshold
    if optimizer is not None:
        exp_avg = optimizer.state[vq.codebook]["exp_avg"]
        assert (exp_avg[~used] == 0).all() and (exp_avg[used] == 1).all()
    assert len({tuple(row.tolist()) for row in vq.codebook[~used]}) == int((~used).sum())  # distinct samples
    assert vq(latent).stats["usage"].item() > out.stats["usage"].item()


def test_replacement_is_reproducible_from_the_seed():
    runs = []
    for _ in range(2):
        vq = VectorQuantizer(32, 3, ema_decay=0.9, dead_threshold=2 / 32, seed=11)
        for step in range(3):
            vq(_latent(2, 3, 4, 4, seed=step))
            vq.update()
        runs.append(vq.codebook.clone())
    assert torch.equal(*runs)


# ------------------------------------------------------------------ encode / decode
@pytest.mark.parametrize(("ema", "cosine", "code_dim", "rotation"), list(itertools.product(
    [None, 0.9], [False, True], [None, 2], [False, True]
)))  # fmt: skip
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_decode_of_encode_is_the_evaluation_forward(ema, cosine, code_dim, rotation, dtype, device):
    vq = VectorQuantizer(16, 6, ema_decay=ema, cosine=cosine, code_dim=code_dim, rotation_trick=rotation)
    vq.to(device, dtype)
    for _ in range(2):  # trained a little, so the codebook is not the initial one
        vq(_latent(2, 6, 4, 3, seed=4, dtype=dtype, device=device, requires_grad=True)).loss.backward()
        vq.update()
    vq.eval()
    # a gradient-carrying forward
    latent = _latent(2, 6, 5, 3, seed=5, dtype=dtype, device=device, requires_grad=True)
    state = {k: v.clone() for k, v in vq.state_dict().items()}
    codes = vq.encode(latent)
    assert codes.shape == (2, 5, 3) and codes.dtype == torch.long and not codes.requires_grad
    out = vq(latent)
    assert torch.equal(codes, out.codes) and torch.equal(codes, vq.encode(latent))  # deterministic
    decoded = vq.decode(codes)
    assert decoded.shape == latent.shape and decoded.dtype == dtype and decoded.is_contiguous()
    assert torch.equal(decoded, out.quantized)
    assert all(torch.equal(state[k], v) for k, v in vq.state_dict().items())


def test_encode_changes_no_state_in_training_mode():
    vq = VectorQuantizer(8, 3, ema_decay=0.9, kmeans_init=True, dead_threshold=0.1).train()
    state = {k: v.clone() for k, v in vq.state_dict().items()}
    vq.encode(_latent(2, 3, 4, 4))
    assert vq.update() == {} and not bool(vq.initialized)
    assert all(torch.equal(state[k], v) for k, v in vq.state_dict().items())


@pytest.mark.parametrize("cosine", [False, True])
def test_every_code_decodes_to_its_codeword_and_encodes_back(cosine):
    vq = VectorQuantizer(32, 4, cosine=cosine)
    every_code = torch.arange(32).view(2, 4, 4)
    decoded = vq.decode(every_code)
    assert torch.equal(decoded.permute(0, 2, 3, 1).reshape(-1, 4), vq.codewords().detach())
    assert torch.equal(vq.encode(decoded), every_code)


def test_projected_codes_decode_through_the_output_projection():
    vq = VectorQuantizer(16, 6, code_dim=2)
    assert vq.codebook.shape == (16, 2)
    codes = torch.tensor([[[3, 7]]])
    expected = vq.project_out(vq.codebook[[3, 7]]).T.reshape(1, 6, 1, 2)
    assert torch.allclose(vq.decode(codes), expected)


def test_decode_is_differentiable_in_the_codebook():
    vq = VectorQuantizer(8, 3)
    vq.decode(torch.tensor([[[1, 1, 2]]])).sum().backward()
    assert vq.codebook.grad[[1, 2]].abs().sum() > 0 and (vq.codebook.grad[[0, 3, 4, 5, 6, 7]] == 0).all()


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        (torch.zeros(1, 2, 2), TypeError, "codes must be a torch.long tensor"),
        ([[[0]]], TypeError, "torch.long"),
        (torch.zeros(4, dtype=torch.long), ValueError, r"shape \(B, H, W\)"),
        (torch.zeros(1, 0, 2, dtype=torch.long), ValueError, r"B, H, W >= 1"),
        (torch.full((1, 2, 2), 8), ValueError, r"\[0, 8\); got min 8, max 8"),
        (torch.full((1, 2, 2), -1), ValueError, r"\[0, 8\); got min -1"),
    ],
)
def test_decode_rejects_bad_codes(codes, error, message):
    with pytest.raises(error, match=message):
        VectorQuantizer(8, 3).decode(codes)


# ------------------------------------------------------------------ dtypes, devices, state
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device(device, dtype):
    vq = VectorQuantizer(16, 4, ema_decay=0.9, kmeans_init=True, dead_threshold=0.05).to(device, dtype)
    latent = _latent(2, 4, 3, 3, dtype=dtype, device=device, requires_grad=True)
    out = vq(latent)
    out.quantized.sum().backward()
    vq.update()
    assert out.quantized.dtype == dtype and out.quantized.device.type == device
    assert vq.codebook.dtype == dtype and latent.grad.dtype == dtype


def test_autocast_latents_are_quantised_in_float32():
    vq = VectorQuantizer(16, 4)
    latent = _latent(2, 4, 3, 3).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq(latent)
    assert out.quantized.dtype == torch.bfloat16 and out.quantized.is_contiguous()
    assert torch.equal(out.codes, vq.encode(latent.float()))
    assert out.loss.dtype == torch.float32


def test_state_dict_round_trip_keeps_codebook_and_initialisation():
    vq = VectorQuantizer(8, 3, ema_decay=0.9, kmeans_init=True, dead_threshold=0.02)
    for step in range(3):
        vq(_latent(2, 3, 4, 4, seed=step))
        vq.update()
    restored = VectorQuantizer(8, 3, ema_decay=0.9, kmeans_init=True, dead_threshold=0.02, seed=5)
    restored.load_state_dict(vq.state_dict())
    latent = _latent(2, 3, 4, 4, seed=9)
    assert torch.equal(restored(latent).quantized, vq(latent).quantized)
    assert int(restored.update_steps) == 3


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    ("latent", "error", "message"),
    [
        (torch.zeros(3, 4, 4), ValueError, r"\(B, dim, H, W\) = \(B, 3, H, W\)"),
        (torch.zeros(1, 4, 4, 4), ValueError, r"= \(B, 3, H, W\); got \(1, 4, 4, 4\)"),
        (torch.full((1, 3, 2, 2), float("nan")), ValueError, "latent must be finite"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.int32), TypeError, "floating-point"),
        (
            torch.zeros(1, 3, 2, 2, dtype=torch.float64),
            TypeError,
            r"latent is torch.float64 .* torch.float32",
        ),
    ],
)
def test_bad_latents(latent, error, message):
    vq = VectorQuantizer(8, 3)
    with pytest.raises(error, match=message):
        vq(latent)
    with pytest.raises(error, match=message):
        vq.encode(latent)


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        ((0, 3), {}, ValueError, "num_codes must be an int >= 1; got 0"),
        ((2.5, 3), {}, TypeError, "num_codes must be an int >= 1; got 2.5"),
        ((True, 3), {}, TypeError, "num_codes must be an int >= 1; got True"),
        ((8, 0), {}, ValueError, "dim must be an int >= 1; got 0"),
        ((8, -3), {}, ValueError, "dim must be an int >= 1"),
        ((8, 3), {"ema_decay": 0}, ValueError, r"ema_decay must be a finite number in \(0, 1\); got 0"),
        ((8, 3), {"ema_decay": 1.0}, ValueError, r"ema_decay .* got 1.0"),
        ((8, 3), {"ema_decay": float("nan")}, ValueError, r"ema_decay .* got nan"),
        ((8, 3), {"ema_decay": "0.9"}, TypeError, r"ema_decay .* got '0.9'"),
        ((8, 3), {"commitment": -0.1}, ValueError, r"commitment must be a finite number in \[0, inf\]"),
        ((8, 3), {"dead_threshold": -1}, ValueError, r"dead_threshold must be a finite number in \[0, 1\]"),
        ((8, 3), {"dead_threshold": 3.0}, ValueError, "dead_threshold"),
        ((8, 3), {"usage_decay": 1.0}, ValueError, "usage_decay"),
        ((8, 3), {"code_dim": 0}, ValueError, "code_dim must be an int >= 1"),
        ((8, 3), {"kmeans_iters": -1}, ValueError, "kmeans_iters must be an int >= 0"),
        ((8, 3), {"laplace_epsilon": 0}, ValueError, "laplace_epsilon"),
        ((8, 3), {"seed": -1}, ValueError, "seed must be an int >= 0"),
        ((8, 3), {"cosine": "yes"}, TypeError, "cosine must be a bool"),
        ((8, 3), {"rotation_trick": 0}, TypeError, "rotation_trick must be a bool"),
        ((8, 3), {"kmeans_init": 1}, TypeError, "kmeans_init must be a bool"),
    ],
)
def test_bad_arguments_are_named(args, options, error, message):
    with pytest.raises(error, match=message):
        VectorQuantizer(*args, **options)


def test_update_bottlenecks_drives_a_model_with_a_quantizer():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), VectorQuantizer(8, 4, ema_decay=0.9))
    model[1](model[0](_latent(1, 3, 4, 4)))
    assert set(update_bottlenecks(model)) == {"1.replaced_entries"}
    assert int(model[1].update_steps) == 1
