"""Inputs the library once accepted silently — a wrong number, NaN, an empty result — or answered with a bare
IndexError / RuntimeError. Each test is one such case: the input now either gives the right answer (scale)
or a ``TypeError`` / ``ValueError`` naming the argument."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from laserlab.bottlenecks import DictionaryBottleneck, VectorQuantizer, to_tokens
from laserlab.perceptual.wasserstein import wasserstein_distortion
from laserlab.sparse import SparseCode, ksvd_update, matching_pursuit, omp, online_init, online_update, rate
from laserlab.train import TrainConfig

BACKENDS = ["numba", "torch"]


def problem(seed: int = 0, n: int = 40, dim: int = 8, atoms: int = 16):
    g = torch.Generator().manual_seed(seed)
    dictionary = F.normalize(torch.randn(atoms, dim, generator=g), dim=1)
    return torch.randn(n, dim, generator=g), dictionary


# ------------------------------------------------------------------ scale: coders, bottlenecks, WD


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("coder", [omp, matching_pursuit])
@pytest.mark.parametrize("exponent", [66, -66, 100, -100])  # 2^66 ≈ 7e19, 2^100 ≈ 1e30
def test_float32_coders_are_exactly_scale_equivariant(backend, coder, exponent):
    signals, dictionary = problem()
    scale = 2.0**exponent
    reference = coder(signals, dictionary, sparsity=3, backend=backend)
    scaled = coder(signals * scale, dictionary, sparsity=3, backend=backend)
    assert (scaled.n_active == 3).all()
    assert torch.equal(scaled.indices, reference.indices)
    assert torch.equal(scaled.values, reference.values * scale)
    assert torch.equal(scaled.residual_norm, reference.residual_norm * scale)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_of_signals_scaled_by_1e20_is_the_scaled_code(backend):
    signals, dictionary = problem()
    reference = omp(signals, dictionary, sparsity=3, backend=backend)
    for scale in (1e20, 1e-20):
        code = omp(signals * scale, dictionary, sparsity=3, backend=backend)
        assert (code.n_active == 3).all() and torch.isfinite(code.residual_norm).all()
        torch.testing.assert_close(code.values / scale, reference.values, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(code.residual_norm / scale, reference.residual_norm, rtol=1e-4, atol=1e-6)


def test_omp_with_atoms_scaled_by_1e20_gives_coefficients_for_the_atoms_as_given():
    signals, dictionary = problem()
    reference = omp(signals, dictionary, sparsity=3)
    code = omp(signals, dictionary * 2.0**70, sparsity=3)
    assert torch.equal(code.indices, reference.indices)
    assert torch.equal(code.values, reference.values / 2.0**70)


def test_vq_and_dictionary_bottleneck_on_1e20_latents_raise_instead_of_an_inf_loss():
    latent = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(1)) * 1e20
    for bottleneck in (VectorQuantizer(16, 8), DictionaryBottleneck(16, 8, sparsity=2)):
        with pytest.raises(ValueError, match=r"loss cannot be represented in torch.float32"):
            bottleneck(latent)


def test_cosine_vq_codes_latents_of_any_magnitude_like_unit_ones():
    vq = VectorQuantizer(16, 8, cosine=True).eval()
    latent = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(2))
    reference = vq(latent)
    for scale in (1e20, 1e-20):
        output = vq(latent * scale)
        assert torch.equal(output.codes, reference.codes)
        torch.testing.assert_close(output.loss, reference.loss)


def test_wasserstein_distortion_of_large_features_raises_instead_of_nan():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(3, 16, 16, generator=g), torch.randn(3, 16, 16, generator=g)
    with pytest.raises(ValueError, match=r"cannot be represented in torch.float32"):
        wasserstein_distortion(a * 1e20, b * 1e20, torch.full((16, 16), 2.0))


def test_wasserstein_distortion_is_exactly_quadratic_in_the_feature_scale():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(3, 16, 16, generator=g), torch.randn(3, 16, 16, generator=g)
    sigma = torch.rand(16, 16, generator=g) * 5
    reference = wasserstein_distortion(a, b, sigma)
    for exponent in (40, -40, -62):  # 1e12, 1e-12, 2e-19: the last one's variances are float32 subnormals
        scale = 2.0**exponent
        assert torch.equal(wasserstein_distortion(a * scale, b * scale, sigma), reference * scale**2)
    tiny = wasserstein_distortion(a * 1e-20, b * 1e-20, sigma)  # 1e-40: a float32 subnormal, not 0 or NaN
    torch.testing.assert_close(tiny.double(), reference.double() * 1e-40, rtol=1e-3, atol=0)


def test_wasserstein_distortion_rejects_a_negative_log2_sigma_instead_of_returning_0():
    a, b = torch.randn(3, 16, 16), torch.randn(3, 16, 16)
    with pytest.raises(ValueError, match=r"log2_sigma must have values in \[0, num_levels\]"):
        wasserstein_distortion(a, b, torch.full((16, 16), -3.0))


# ------------------------------------------------------------------ rates


def test_entropy_bits_and_vq_empirical_bits_reject_symbols_beyond_the_alphabet():
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 4\)"):
        rate.entropy_bits(torch.tensor([0, 5, 9]), 4)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        rate.vq_empirical_bits_per_token(torch.tensor([0, 5, 9]), 4)


def test_sparse_empirical_bits_rejects_fewer_atoms_than_the_code_uses():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    with pytest.raises(ValueError, match=r"code.indices must lie in \[-1, K\) with K = 4"):
        rate.sparse_empirical_bits_per_token(code, 4)


def test_bits_per_pixel_rejects_nan_and_negative_bits():
    for bits in (float("nan"), -1.0):
        with pytest.raises(ValueError, match="bits_per_token must be a finite number"):
            rate.bits_per_pixel(bits, (2, 2), (8, 8))


def test_quantize_values_rejects_a_nan_coefficient_instead_of_symbol_minus_2_63():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    code.values[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"code.values must be finite"):
        rate.quantize_values(code, 4)


# ------------------------------------------------------------------ dictionary updates


def _code_with(code: SparseCode, **fields) -> SparseCode:
    parts = dict(indices=code.indices.clone(), values=code.values.clone(), residual_norm=code.residual_norm)
    return SparseCode(**(parts | fields))


def test_online_update_rejects_nan_values_and_nan_residual_norms():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    state = online_init(dictionary)
    values = code.values.clone()
    values[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"code.values must be finite"):
        online_update(state, signals, _code_with(code, values=values))
    residual = code.residual_norm.clone()
    residual[0] = float("nan")
    with pytest.raises(ValueError, match=r"code.residual_norm must be finite"):
        online_update(state, signals, _code_with(code, residual_norm=residual))


def test_online_update_rejects_out_of_range_indices_with_a_value_error():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    indices = code.indices.clone()
    indices[0, 0] = 99
    with pytest.raises(ValueError, match=r"code.indices must lie in \[-1, K\) with K = 16"):
        online_update(online_init(dictionary), signals, _code_with(code, indices=indices))


def test_ksvd_update_rejects_a_truthy_string_for_approximate():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    with pytest.raises(TypeError, match="approximate must be a bool"):
        ksvd_update(signals, dictionary, code, approximate="no")


@pytest.mark.parametrize("approximate", [False, True])
def test_ksvd_update_returns_unit_atoms_when_their_users_all_have_zero_coefficients(approximate):
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    silent = _code_with(code, values=torch.zeros_like(code.values))
    update = ksvd_update(torch.zeros_like(signals), 3 * dictionary, silent, approximate=approximate)
    norms = torch.linalg.vector_norm(update.dictionary[update.used], dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_omp_rejects_a_finite_gram_that_is_not_the_dictionarys():
    signals, dictionary = problem()
    with pytest.raises(ValueError, match=r"gram must be dictionary @ dictionary.T"):
        omp(signals, dictionary, sparsity=3, gram=torch.eye(16))


def test_to_tokens_rejects_zero_size_inputs():
    for shape in ((1, 3, 0, 0), (0, 3, 4, 4)):
        with pytest.raises(
            ValueError, match=r"x must be a tensor of shape \(B, C, H, W\) with B, C, H, W >= 1"
        ):
            to_tokens(torch.zeros(shape), 2)


def test_sparse_code_with_too_few_atoms_is_a_value_error_not_index_or_runtime_error():
    signals, dictionary = problem()
    code = omp(signals, dictionary, sparsity=3)
    with pytest.raises(ValueError, match=r"code.indices must lie in \[-1, K\) with K = 2"):
        code.reconstruct(dictionary[:2])
    with pytest.raises(ValueError, match=r"code.indices must lie in \[-1, K\) with K = 2"):
        code.to_dense(2)


# ------------------------------------------------------------------ training configuration and CLI

MODEL = {
    "name": "autoencoder",
    "latent_dim": 8,
    "width": 16,
    "downsample": 2,
    "bottleneck": {"name": "vq", "num_codes": 8},
}


def config(**sections):
    return {"model": MODEL, "output_dir": "unused", **sections}


@pytest.mark.parametrize(
    ("sections", "error", "match"),
    [
        (dict(loss={"mse": -1.0}), ValueError, "loss.mse must be a finite number in"),
        (dict(trainer={"precision": "33-true"}), ValueError, r"trainer.precision must be one of \["),
        (dict(trainer={"accelerator": "tpu-ish"}), ValueError, r"trainer.accelerator must be one of \["),
        (
            dict(trainer={"limit_val_batches": -1}),
            ValueError,
            "trainer.limit_val_batches must be an int >= 0",
        ),
        (dict(trainer={"gradient_clip_val": -1}), ValueError, "trainer.gradient_clip_val must be a finite"),
        (
            dict(optimizer={"betas": [0.9, 1.0]}),
            ValueError,
            r"optimizer.betas\[1\] must be a number in \[0, 1\)",
        ),
        (dict(optimizer={"betas": 0.9}), TypeError, r"optimizer.betas must be a pair \[beta1, beta2\]"),
        (
            dict(model={**MODEL, "bottleneck": {"name": "vq", "num_codes": -1}}),
            ValueError,
            "num_codes must be an int >= 1",
        ),
    ],
)
def test_train_config_rejects_values_that_failed_only_inside_lightning_or_torch(sections, error, match):
    with pytest.raises(error, match=match):
        TrainConfig.from_dict(config(**sections))


@pytest.mark.parametrize(
    ("text", "argv", "match"),
    [
        ("output_dir: out\nmodel: {name: autoencoder\n", [], "is not valid YAML at line"),
        (None, ["--max-steps", "0"], "--max-steps must be an int >= 1; got 0"),
        (None, ["--output-dir", ""], "--output-dir must be a directory path; got ''"),
    ],
    ids=["malformed-yaml", "max-steps-0", "output-dir-empty"],
)
def test_cli_train_reports_malformed_yaml_and_falsy_flags_in_one_line(tmp_path, capsys, text, argv, match):
    from laserlab.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(
        text or "output_dir: out\nmodel: {name: autoencoder, bottleneck: {name: vq, num_codes: 8}}\n"
    )
    assert main(["train", "--config", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
