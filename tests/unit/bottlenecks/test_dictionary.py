import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import orthogonal_mp_gram

from laserlab.bottlenecks import (
    BOTTLENECKS,
    DictionaryBottleneck,
    PatchCode,
    build,
    from_tokens,
    to_tokens,
    update_bottlenecks,
)
from laserlab.sparse import SparseCode, ksvd_update, matching_pursuit, omp, online_init, online_update
from laserlab.sparse.rate import QuantizedCode, dequantize, quantize_values

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
RULES = ["gradient", "online", "ksvd", "approx_ksvd"]


def _latent(*shape, seed=0, dtype=torch.float32, device="cpu", requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device).requires_grad_(requires_grad)


def _step(bottleneck, latent, optimizer=None):
    """One training step: forward, backward of loss + a decoder-like term, optimiser step, update."""
    out = bottleneck(latent)
    (out.loss + out.quantized.square().sum()).backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad()
    return out, bottleneck.update(optimizer=optimizer)


# ------------------------------------------------------------------ every rule × patch size
@pytest.mark.parametrize(
    ("rule", "patch_size", "solver"), list(itertools.product(RULES, [1, 2, 4], ["omp", "mp"]))
)
def test_training_forward_passes_gradients_and_a_finite_loss(rule, patch_size, solver):
    bottleneck = DictionaryBottleneck(
        12, 3, sparsity=2, patch_size=patch_size, solver=solver, update_rule=rule
    )
    optimizer = torch.optim.Adam(bottleneck.parameters(), lr=1e-2) if rule == "gradient" else None
    assert list(bottleneck.parameters()) == ([bottleneck.dictionary] if rule == "gradient" else [])
    for step in range(3):
        latent = _latent(2, 3, 8, 8, seed=step, requires_grad=True)
        out, _ = _step(bottleneck, latent, optimizer)
        assert out.quantized.shape == latent.shape and out.quantized.dtype == latent.dtype
        assert out.quantized.is_contiguous()
        assert out.loss.dim() == 0 and torch.isfinite(out.loss)
        assert latent.grad is not None and torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0
        n_tokens = 2 * (8 // patch_size) ** 2
        assert out.codes.sparse.indices.shape == (n_tokens, 2) and out.codes.grid == (
            2,
            8 // patch_size,
            8 // patch_size,
        )
        assert all(v.dim() == 0 and not v.requires_grad and torch.isfinite(v) for v in out.stats.values())
        assert torch.allclose(bottleneck.dictionary.norm(dim=1), torch.ones(12), atol=1e-5)


def test_straight_through_gradient_is_the_identity_and_the_value_is_the_reconstruction():
    bottleneck = DictionaryBottleneck(
        10, 2, sparsity=2, patch_size=2, update_rule="ksvd", commitment=0.0
    ).double()
    latent = _latent(2, 2, 4, 6, dtype=torch.float64, requires_grad=True)
    upstream = _latent(2, 2, 4, 6, seed=3, dtype=torch.float64)
    out = bottleneck(latent)
    (out.quantized * upstream).sum().backward()
    assert torch.equal(latent.grad, upstream)
    assert torch.equal(out.quantized, bottleneck.decode(out.codes))


# ------------------------------------------------------------------ encode / decode
@pytest.mark.parametrize(("rule", "solver", "value_bits", "patch_size"), list(itertools.product(
    RULES, ["omp", "mp"], [None, 4], [1, 2, 3]
)))  # fmt: skip
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_decode_of_encode_is_the_evaluation_forward(rule, solver, value_bits, patch_size, dtype, device):
    bottleneck = DictionaryBottleneck(
        12, 3, sparsity=2, patch_size=patch_size, solver=solver, update_rule=rule, value_bits=value_bits,
        kmeans_init=True,
    ).to(device, dtype)  # fmt: skip
    optimizer = torch.optim.Adam(bottleneck.parameters(), lr=1e-2) if rule == "gradient" else None
    for step in range(2):  # trained a little: k-means start, one dictionary update
        trained = _latent(2, 3, 6, 6, seed=step, dtype=dtype, device=device, requires_grad=True)
        _step(bottleneck, trained, optimizer)
    bottleneck.eval()
    # 5, 7: padded tokens for p > 1
    latent = _latent(2, 3, 5, 7, seed=9, dtype=dtype, device=device, requires_grad=True)
    state = {k: v.clone() for k, v in bottleneck.state_dict().items()}
    codes = bottleneck.encode(latent)
    assert isinstance(codes, PatchCode) and codes.shape == (2, 3, 5, 7) and codes.patch_size == patch_size
    assert isinstance(codes.sparse, QuantizedCode) == (value_bits is not None)
    n_tokens = 2 * -(-5 // patch_size) * -(-7 // patch_size)
    assert codes.sparse.indices.shape == (n_tokens, 2) and codes.sparse.values.dtype == dtype
    assert not codes.sparse.values.requires_grad
    out = bottleneck(latent)
    for a, b in ((codes, out.codes), (codes, bottleneck.encode(latent))):  # forward's codes; deterministic
        assert torch.equal(a.sparse.indices, b.sparse.indices) and torch.equal(
            a.sparse.values, b.sparse.values
        )
    decoded = bottleneck.decode(codes)
    assert decoded.shape == latent.shape and decoded.dtype == dtype
    assert torch.equal(decoded, out.quantized)
    assert all(torch.equal(state[k], v) for k, v in bottleneck.state_dict().items())


def test_encode_changes_no_state_in_training_mode():
    bottleneck = DictionaryBottleneck(8, 3, sparsity=2, update_rule="online", kmeans_init=True).train()
    state = {k: v.clone() for k, v in bottleneck.state_dict().items()}
    bottleneck.encode(_latent(2, 3, 4, 4))
    assert bottleneck.update() == {} and not bool(bottleneck.initialized)
    assert all(torch.equal(state[k], v) for k, v in bottleneck.state_dict().items())


def test_quantised_codes_carry_what_a_codec_transmits():
    bottleneck = DictionaryBottleneck(16, 3, sparsity=3, value_bits=5, update_rule="ksvd").double().eval()
    codes = bottleneck.encode(_latent(2, 3, 4, 4, dtype=torch.float64))
    q = codes.sparse
    rebuilt = dequantize(q.indices, q.symbols, max_abs=q.max_abs, bits=5)
    assert torch.equal(bottleneck.decode(PatchCode(rebuilt, codes.shape, 1)), bottleneck.decode(codes))
    tampered = QuantizedCode(q.indices, q.values * 1.5, symbols=q.symbols, max_abs=q.max_abs, bits=5)
    with pytest.raises(ValueError, match="values must be the dequantised symbols"):
        bottleneck.decode(PatchCode(tampered, codes.shape, 1))
    bad_symbols = QuantizedCode(q.indices, q.values, symbols=q.symbols + 32, max_abs=q.max_abs, bits=5)
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 2\^bits\)"):
        bottleneck.decode(PatchCode(bad_symbols, codes.shape, 1))


# ------------------------------------------------------------------ oracles
@pytest.mark.filterwarnings("ignore:Orthogonal matching pursuit ended prematurely")  # S = 4 > M = 3
@pytest.mark.parametrize("patch_size", [1, 2, 3])
def test_codes_equal_omp_on_the_token_matrix_and_sklearn(patch_size):
    bottleneck = (
        DictionaryBottleneck(20, 3, sparsity=4, patch_size=patch_size, update_rule="online").double().eval()
    )
    latent = _latent(2, 3, 6, 7, dtype=torch.float64)  # 7 is not a multiple of 2 or 3: padded tokens
    out = bottleneck(latent)
    tokens = to_tokens(latent, patch_size)
    reference = omp(tokens, bottleneck.dictionary, sparsity=4)
    assert torch.equal(out.codes.sparse.indices, reference.indices)
    assert torch.allclose(out.codes.sparse.values, reference.values, rtol=1e-12, atol=1e-12)
    d = bottleneck.dictionary.numpy()
    sk = orthogonal_mp_gram(d @ d.T, d @ tokens[:5].numpy().T, n_nonzero_coefs=4).T
    assert torch.allclose(reference.to_dense(20)[:5], torch.from_numpy(sk), atol=1e-10)
    # the value is the reconstruction, padding cropped
    expected = reference.reconstruct(bottleneck.dictionary)
    assert torch.allclose(out.quantized, from_tokens(expected, patch_size, latent.shape), atol=1e-12)
    assert torch.equal(out.quantized, bottleneck.decode(bottleneck.encode(latent)))


def test_matching_pursuit_solver_uses_matching_pursuit():
    bottleneck = DictionaryBottleneck(8, 3, sparsity=3, solver="mp", update_rule="ksvd").double().eval()
    latent = _latent(1, 3, 5, 5, dtype=torch.float64)
    out = bottleneck(latent)
    reference = matching_pursuit(to_tokens(latent, 1), bottleneck.dictionary, sparsity=3)
    assert torch.equal(out.codes.sparse.indices, reference.indices)
    assert torch.allclose(out.codes.sparse.values, reference.values, atol=1e-12)
    exact = DictionaryBottleneck(8, 3, sparsity=3, solver="omp", update_rule="ksvd").double().eval()
    # pixels are 3-D: three atoms reconstruct exactly with OMP, not with MP (it never re-fits)
    assert exact(latent).stats["quantization_error"] < 1e-20 < out.stats["quantization_error"]


def test_losses_of_the_gradient_rule():
    bottleneck = DictionaryBottleneck(6, 2, sparsity=1, commitment=0.25, dictionary_weight=2.0).double()
    latent = _latent(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    out = bottleneck(latent)
    x = to_tokens(latent.detach(), 1)
    recon = to_tokens(out.quantized.detach(), 1)
    error = (x - recon).square().mean()
    assert out.loss.item() == pytest.approx(2.25 * error.item(), rel=1e-12)
    out.loss.backward()
    assert torch.allclose(to_tokens(latent.grad, 1), 0.25 * 2 * (x - recon) / x.numel())
    g = bottleneck.dictionary.grad
    # the dictionary sees the row-normalised parameter: its gradient is tangent to the unit sphere
    assert g.abs().sum() > 0 and (g * bottleneck.dictionary.detach()).sum(1).abs().max() < 1e-12


def test_non_gradient_rules_have_only_the_commitment_loss():
    bottleneck = DictionaryBottleneck(6, 2, sparsity=2, update_rule="online", commitment=0.5).double()
    out = bottleneck(_latent(1, 2, 3, 3, dtype=torch.float64))
    assert out.loss.item() == pytest.approx(0.5 * out.stats["quantization_error"].item(), rel=1e-12)


@pytest.mark.parametrize(("num_atoms", "sparsity", "value_bits", "dtype"), [
    (16, 4, 8, torch.float32), (16, 1, None, torch.float32), (512, 8, 4, torch.float64),
    (2048, 2, None, torch.float64),
])  # fmt: skip
def test_bits_per_token_is_support_plus_coefficient_bits(num_atoms, sparsity, value_bits, dtype):
    bottleneck = DictionaryBottleneck(num_atoms, 3, sparsity=sparsity, value_bits=value_bits).to(dtype)
    coefficient_bits = value_bits if value_bits else (32 if dtype == torch.float32 else 64)
    expected = math.log2(math.comb(num_atoms, sparsity)) + sparsity * coefficient_bits
    assert bottleneck.bits_per_token == pytest.approx(expected)
    assert bottleneck(_latent(1, 3, 2, 2, dtype=dtype)).stats["bits_per_token"].item() == pytest.approx(
        expected
    )
    if (num_atoms, sparsity, value_bits) == (16, 4, 8):
        assert expected == pytest.approx(10.8297 + 32, abs=1e-4)  # log2 C(16, 4) = log2 1820, + 4·8


def test_quantised_values_are_what_the_decoder_sees():
    bottleneck = DictionaryBottleneck(16, 3, sparsity=3, value_bits=3, update_rule="ksvd").double().eval()
    latent = _latent(2, 3, 4, 4, dtype=torch.float64)
    out = bottleneck(latent)
    code = omp(to_tokens(latent, 1), bottleneck.dictionary, sparsity=3)
    quantized = quantize_values(code, 3)
    assert torch.equal(out.codes.sparse.values, quantized.values)
    assert len(torch.unique(out.codes.sparse.values)) <= 8
    assert torch.allclose(
        to_tokens(out.quantized, 1), quantized.reconstruct(bottleneck.dictionary), atol=1e-12
    )
    unquantised = DictionaryBottleneck(16, 3, sparsity=3, update_rule="ksvd").double().eval()
    assert out.stats["quantization_error"] > unquantised(latent).stats["quantization_error"]


def test_stats_on_a_hand_made_dictionary():
    bottleneck = DictionaryBottleneck(4, 2, sparsity=1, update_rule="ksvd", dead_threshold=0.0).double()
    bottleneck.dictionary.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0.6, 0.8]]))
    tokens = torch.tensor([[2.0, 0.1], [0.0, 3.0], [0.1, 1.5], [3.0, 0.0]], dtype=torch.float64)
    out = bottleneck(tokens.T.reshape(1, 2, 2, 2))
    assert out.codes.sparse.indices.flatten().tolist() == [0, 1, 1, 0]
    assert out.stats["sparsity"].item() == 1.0
    assert out.stats["usage"].item() == 0.5 and out.stats["perplexity"].item() == pytest.approx(2.0)
    assert out.stats["dead_entries"].item() == 2
    assert out.stats["quantization_error"].item() == pytest.approx((0.01 + 0.01) / 8)
    assert out.codes.n_active.shape == (1, 2, 2)


# ------------------------------------------------------------------ dictionary learning on a fixed batch
@pytest.mark.parametrize("rule", ["online", "ksvd", "approx_ksvd", "gradient"])
def test_updates_change_the_dictionary_and_lower_the_error_on_a_fixed_batch(rule):
    bottleneck = DictionaryBottleneck(24, 4, sparsity=2, patch_size=2, update_rule=rule, dead_threshold=0.0)
    optimizer = torch.optim.Adam(bottleneck.parameters(), lr=3e-2) if rule == "gradient" else None
    latent = _latent(4, 4, 8, 8, seed=5, requires_grad=True)
    errors, first = [], bottleneck.atoms().detach().clone()
    for _ in range(12):
        out, _ = _step(bottleneck, latent, optimizer)
        errors.append(out.stats["quantization_error"].item())
    assert not torch.equal(first, bottleneck.atoms())
    assert errors[-1] < 0.8 * errors[0]


def test_ksvd_rule_applies_one_sweep_to_the_forward_codes():
    bottleneck = DictionaryBottleneck(10, 3, sparsity=2, update_rule="ksvd", dead_threshold=0.0).double()
    latent = _latent(2, 3, 4, 4, dtype=torch.float64)
    before = bottleneck.dictionary.clone()
    bottleneck(latent)
    bottleneck.update()
    tokens = to_tokens(latent, 1)
    expected = ksvd_update(tokens, before, omp(tokens, before, sparsity=2)).dictionary
    assert torch.allclose(bottleneck.dictionary, expected, atol=1e-12)


def test_online_rule_equals_online_update_and_accumulates_forwards():
    bottleneck = DictionaryBottleneck(
        10, 3, sparsity=2, update_rule="online", forgetting=0.9, dead_threshold=0.0
    )
    bottleneck.double()
    first, second = (
        _latent(2, 3, 4, 4, seed=1, dtype=torch.float64),
        _latent(1, 3, 4, 4, seed=2, dtype=torch.float64),
    )
    state = online_init(bottleneck.dictionary.clone())
    bottleneck(first)
    bottleneck(second)  # gradient accumulation: one update for both forwards
    bottleneck.update()
    tokens = torch.cat([to_tokens(first, 1), to_tokens(second, 1)])
    state = online_update(
        state, tokens, omp(tokens, state.dictionary, sparsity=2), forgetting=0.9, replace_unused=False
    )
    assert torch.allclose(bottleneck.dictionary, state.dictionary, atol=1e-12)
    assert torch.allclose(bottleneck.online_a, state.A) and torch.allclose(bottleneck.online_b, state.B)


def test_evaluation_forwards_change_no_state():
    bottleneck = DictionaryBottleneck(8, 3, sparsity=2, update_rule="ksvd", kmeans_init=True).eval()
    state = {k: v.clone() for k, v in bottleneck.state_dict().items()}
    bottleneck(_latent(2, 3, 4, 4))
    assert bottleneck.update() == {}
    assert all(torch.equal(state[k], v) for k, v in bottleneck.state_dict().items())


# ------------------------------------------------------------------ atom hygiene
@pytest.mark.parametrize("rule", RULES)
def test_dead_entries_are_revived_from_the_worst_represented_tokens(rule):
    bottleneck = DictionaryBottleneck(6, 3, sparsity=1, update_rule=rule, dead_threshold=0.05).double()
    with torch.no_grad():
        bottleneck.dictionary.copy_(F.normalize(torch.tensor(
            [[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1e-3], [1, 1, -1e-3]], dtype=torch.float64
        ), dim=1))  # fmt: skip
    # tokens along the first three axes only, plus one far off every atom
    tokens = torch.cat([torch.eye(3, dtype=torch.float64).repeat(10, 1), torch.tensor([[-3.0, 5.0, 4.0]])])
    latent = tokens.T.reshape(1, 3, 1, 31)
    optimizer = torch.optim.Adam(bottleneck.parameters(), lr=0.1) if rule == "gradient" else None
    out = bottleneck(latent)
    if optimizer is not None:
        out.loss.backward()
        optimizer.step()
        optimizer.state[bottleneck.dictionary]["exp_avg"].fill_(1.0)  # makes the reset visible
    stats = bottleneck.update(optimizer=optimizer)
    assert stats["replaced_entries"].item() >= 1
    worst = F.normalize(torch.tensor([-3.0, 5.0, 4.0], dtype=torch.float64), dim=0)
    assert (bottleneck.atoms() @ worst).max().item() == pytest.approx(1.0)
    if optimizer is not None:
        exp_avg = optimizer.state[bottleneck.dictionary]["exp_avg"]
        revived = (exp_avg == 0).all(1)
        assert revived.any() and (exp_avg[~revived] == 1).all()
    if rule == "online":
        revived = (bottleneck.atoms() @ worst).argmax()
        assert (bottleneck.online_a[revived] == 0).all() and (bottleneck.online_b[revived] == 0).all()


def test_kmeans_init_sets_atoms_from_the_first_training_batch():
    centres = F.normalize(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]]), dim=1)
    tokens = centres.repeat_interleave(25, 0) * 2 + 0.01 * _latent(100, 2, seed=1)
    latent = tokens.T.reshape(1, 2, 10, 10)
    bottleneck = DictionaryBottleneck(4, 2, sparsity=1, update_rule="ksvd", kmeans_init=True, kmeans_iters=5)
    random_atoms = bottleneck.dictionary.clone()
    bottleneck.eval()(latent)
    assert torch.equal(bottleneck.dictionary, random_atoms)
    bottleneck.train()(latent)
    assert bool(bottleneck.initialized)
    assert (centres @ bottleneck.dictionary.T).abs().max(1).values.min() > 0.999


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("options", "error", "message"), [
    ({"sparsity": 9}, ValueError, "sparsity must be at most num_atoms = 8"),
    ({"sparsity": 0}, ValueError, "sparsity must be an int >= 1"),
    ({"sparsity": 2, "update_rule": "mod"}, ValueError, "update_rule must be one of"),
    ({"sparsity": 2, "solver": "lasso"}, ValueError, "solver must be one of"),
    ({"sparsity": 2, "patch_size": 0}, ValueError, "patch_size must be an int >= 1"),
    ({"sparsity": 2, "value_bits": 0}, ValueError, "value_bits"),
    ({"sparsity": 2, "forgetting": 0.0}, ValueError, "forgetting"),
    ({"sparsity": 2, "dead_threshold": 2.0}, ValueError, "dead_threshold"),
    ({"sparsity": 2, "usage_decay": 0.0}, ValueError, "usage_decay"),
    ({"sparsity": 2, "kmeans_iters": -1}, ValueError, "kmeans_iters must be an int >= 0"),
    ({"sparsity": 2, "kmeans_init": 1}, TypeError, "kmeans_init must be a bool"),
])  # fmt: skip
def test_bad_options_are_rejected(options, error, message):
    with pytest.raises(error, match=message):
        DictionaryBottleneck(8, 3, **options)


@pytest.mark.parametrize(("latent", "error", "message"), [
    (torch.zeros(2, 4, 3, 3), ValueError, r"\(B, dim, H, W\) = \(B, 3, H, W\); got \(2, 4, 3, 3\)"),
    (torch.zeros(3, 3, 3), ValueError, r"\(B, dim, H, W\)"),
    (torch.full((1, 3, 2, 2), float("nan")), ValueError, "latent"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.long), TypeError, "latent"),
])  # fmt: skip
def test_bad_latents_are_rejected(latent, error, message):
    with pytest.raises(error, match=message):
        DictionaryBottleneck(8, 3, sparsity=2)(latent)


@pytest.mark.parametrize(("height", "width", "patch_size"), [(5, 7, 2), (3, 3, 4), (9, 4, 4)])
def test_patch_sizes_that_do_not_divide_the_latent_are_padded_and_cropped_exactly(height, width, patch_size):
    bottleneck = DictionaryBottleneck(64, 2, sparsity=2, patch_size=patch_size).double().eval()
    latent = _latent(1, 2, height, width, dtype=torch.float64)
    out = bottleneck(latent)
    assert out.quantized.shape == latent.shape
    assert torch.equal(out.quantized, bottleneck.decode(out.codes))
    # with as many atoms as token dimensions OMP is exact, so the crop is checked value by value
    full = DictionaryBottleneck(4 * patch_size**2, 1, sparsity=patch_size**2, patch_size=patch_size).double()
    full.dictionary.data = torch.eye(patch_size**2, dtype=torch.float64).repeat(4, 1)
    single = latent[:, :1]
    assert torch.allclose(full.eval()(single).quantized, single, atol=1e-12)


def test_decode_rejects_foreign_codes():
    bottleneck = DictionaryBottleneck(8, 3, sparsity=2, patch_size=2)
    codes = bottleneck.encode(_latent(1, 3, 4, 4))
    with pytest.raises(TypeError, match="codes must be a PatchCode"):
        bottleneck.decode(codes.sparse)
    with pytest.raises(ValueError, match=r"patch_size = 1; got shape \(1, 3, 4, 4\), patch_size 2"):
        DictionaryBottleneck(8, 3, sparsity=2, patch_size=1).decode(codes)
    with pytest.raises(ValueError, match="dim = 4"):
        DictionaryBottleneck(8, 4, sparsity=2, patch_size=2).decode(codes)
    with pytest.raises(TypeError, match="QuantizedCode of 4 bits"):
        DictionaryBottleneck(8, 3, sparsity=2, patch_size=2, value_bits=4).decode(codes)
    quantized = DictionaryBottleneck(8, 3, sparsity=2, patch_size=2, value_bits=4).encode(_latent(1, 3, 4, 4))
    with pytest.raises(TypeError, match="unquantised SparseCode"):
        bottleneck.decode(quantized)
    with pytest.raises(ValueError, match="quantised to 5 bits; got 4"):
        DictionaryBottleneck(8, 3, sparsity=2, patch_size=2, value_bits=5).decode(quantized)
    code = codes.sparse
    bad_codes = [
        (SparseCode(torch.full_like(code.indices, 8), code.values), ValueError, r"\[-1, 8\)"),
        (SparseCode(code.indices[:3], code.values[:3]), ValueError, r"\(B·h·w, S\) = \(4, 2\)"),
        (SparseCode(code.indices.float(), code.values), TypeError, "indices must be a torch.long"),
        (SparseCode(code.indices, code.values.long()), TypeError, "values must be a float"),
        (SparseCode(torch.full_like(code.indices, -1), code.values + 1), ValueError, "0 in empty slots"),
        (SparseCode(code.indices, torch.full_like(code.values, float("nan"))), ValueError, "finite"),
    ]
    for sparse_code, error, message in bad_codes:
        with pytest.raises(error, match=message):
            bottleneck.decode(PatchCode(sparse_code, codes.shape, 2))
    with pytest.raises(ValueError, match="got shape"):
        bottleneck.decode(PatchCode(code, (1, 3, 0, 4), 2))


# ------------------------------------------------------------------ registry, dtypes, devices
def test_registry_builds_the_dictionary_bottleneck():
    assert BOTTLENECKS["dictionary"] is DictionaryBottleneck
    bottleneck = build("dictionary", num_atoms=8, dim=3, sparsity=2, update_rule="ksvd")
    assert isinstance(bottleneck, DictionaryBottleneck) and bottleneck.update_rule == "ksvd"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rule", RULES)
def test_dtype_and_device(device, dtype, rule):
    bottleneck = DictionaryBottleneck(16, 4, sparsity=2, patch_size=2, update_rule=rule, kmeans_init=True)
    bottleneck.to(device, dtype)
    latent = _latent(2, 4, 4, 4, dtype=dtype, device=device, requires_grad=True)
    out = bottleneck(latent)
    out.quantized.sum().backward()
    update_bottlenecks(bottleneck)
    assert out.quantized.dtype == dtype and out.quantized.device.type == device
    assert bottleneck.dictionary.dtype == dtype and latent.grad.dtype == dtype


def test_autocast_latents_are_coded_in_float32():
    bottleneck = DictionaryBottleneck(16, 4, sparsity=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bottleneck(_latent(2, 4, 3, 3).bfloat16())
    assert out.quantized.dtype == torch.bfloat16
    with pytest.raises(TypeError, match="float64"):
        bottleneck(_latent(1, 4, 2, 2, dtype=torch.float64))
