"""Rates on hand-computable cases; the quantiser's error bound and symbol range."""

from __future__ import annotations

import math

import pytest
import torch

from laserlab.sparse import SparseCode, omp
from laserlab.sparse.rate import (
    QuantizedCode,
    bits_per_pixel,
    dequantize,
    entropy_bits,
    quantize_values,
    sparse_bits_per_token,
    sparse_empirical_bits_per_token,
    support_bits,
    vq_bits_per_token,
    vq_empirical_bits_per_token,
)


def code_of(indices, values):
    indices = torch.tensor(indices)
    values = torch.tensor(values, dtype=torch.float64)
    return SparseCode(indices, values)


def test_fixed_rates_match_hand_computed_values():
    assert vq_bits_per_token(16) == 4.0 and vq_bits_per_token(512) == 9.0
    assert support_bits(16, 4) == pytest.approx(math.log2(1820))  # C(16, 4) = 1820 → 10.83 bits
    assert support_bits(16, 4) == pytest.approx(10.8298, abs=1e-4)
    assert support_bits(512, 8) == pytest.approx(math.log2(math.comb(512, 8)))  # 56.6
    assert support_bits(2048, 2) == pytest.approx(math.log2(2048 * 2047 / 2))  # 21.0
    assert support_bits(16, 16) == 0.0 and support_bits(16, 1) == 4.0
    assert sparse_bits_per_token(16, 4, value_bits=8) == pytest.approx(math.log2(1820) + 32)


def test_bits_per_pixel_from_token_grid():
    # 32×32 tokens of 4×4 RGB pixels... of a 128×128 image: 1024 tokens over 16384 pixels.
    assert bits_per_pixel(9.0, (32, 32), (128, 128)) == pytest.approx(9 / 16)
    # VQ-VAE latent 16×16 (downsampling 4 on 64×64), patches 2×2 → 8×8 tokens.
    assert bits_per_pixel(torch.tensor(40.0), (8, 8), (64, 64)).item() == pytest.approx(40 * 64 / 4096)
    with pytest.raises(ValueError, match="token_grid"):
        bits_per_pixel(1.0, (0, 4), (8, 8))
    with pytest.raises(ValueError, match="image_size"):
        bits_per_pixel(1.0, (4, 4), (8,))


def test_quantizer_levels_error_bound_and_empty_slots():
    code = code_of([[0, 3, -1], [2, 1, 5]], [[0.9, -0.2, 0.0], [-1.0, 0.33, 0.45]])
    q = quantize_values(code, 2)
    assert isinstance(q, QuantizedCode)
    assert q.max_abs.item() == 1.0 and q.step.item() == 0.5  # 4 levels at ±0.25, ±0.75
    assert q.symbols.tolist() == [[3, 1, -1], [0, 2, 2]]
    assert q.values.tolist() == [[0.75, -0.25, 0.0], [-0.75, 0.25, 0.25]]
    for bits in (1, 3, 8):
        q = quantize_values(code, bits)
        valid = code.indices >= 0
        assert ((q.values - code.values).abs()[valid] <= q.step / 2 + 1e-12).all()
        assert q.symbols[valid].min() >= 0 and q.symbols.max() < 2**bits
        assert torch.equal(q.indices, code.indices)
        assert isinstance(q, SparseCode) and q.residual_norm is None  # the quantised fit is unknown


@pytest.mark.parametrize("max_abs", [None, 0.5])
def test_dequantize_rebuilds_exactly_what_quantize_values_produced(max_abs):
    code = omp(torch.randn(50, 8, dtype=torch.float64), torch.randn(16, 8, dtype=torch.float64), sparsity=3)
    q = quantize_values(code, 5, max_abs=max_abs)
    rebuilt = dequantize(q.indices, q.symbols, max_abs=q.max_abs, bits=5)
    assert torch.equal(rebuilt.values, q.values) and torch.equal(rebuilt.symbols, q.symbols)
    assert torch.equal(rebuilt.step, q.step) and rebuilt.values.dtype == torch.float64
    from_float = dequantize(q.indices, q.symbols, max_abs=float(q.max_abs), bits=5)
    assert torch.allclose(from_float.values.double(), q.values, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(symbols=torch.tensor([[4, -1]])), ValueError, r"symbols must lie in \[0, 2\^bits\) = \[0, 4\)"),
        (dict(symbols=torch.tensor([[1, 0]])), ValueError, "-1 in empty slots"),
        (dict(symbols=torch.tensor([[1.0, -1.0]])), TypeError, "symbols must be a torch.long"),
        (dict(symbols=torch.tensor([[1, -1, 0]])), ValueError, "same shape"),
        (dict(max_abs=0.0), ValueError, "max_abs"),
        (dict(max_abs=torch.ones(2)), ValueError, "max_abs must be a scalar"),
        (dict(bits=25), ValueError, r"bits must be an int in \[1, 24\]"),
    ],
)
def test_dequantize_rejects_codes_that_quantize_values_cannot_produce(change, error, match):
    arguments = dict(indices=torch.tensor([[3, -1]]), symbols=torch.tensor([[1, -1]]), max_abs=1.0, bits=2)
    arguments |= change
    with pytest.raises(error, match=match):
        dequantize(arguments.pop("indices"), arguments.pop("symbols"), **arguments)


def test_quantized_reconstruction_converges_to_the_code():
    dictionary = torch.nn.functional.normalize(torch.randn(32, 8, dtype=torch.float64), dim=1)
    signals = torch.randn(100, 8, dtype=torch.float64)
    code = omp(signals, dictionary, sparsity=4)
    errors = [
        (quantize_values(code, b).reconstruct(dictionary) - code.reconstruct(dictionary)).norm()
        for b in (2, 4, 8)
    ]
    assert errors[0] > errors[1] > errors[2] > 0
    clipped = quantize_values(code, 4, max_abs=0.1)
    assert clipped.values.abs().max() < 0.1


def test_empirical_rates():
    assert entropy_bits(torch.tensor([0, 1, 2, 3]), 4).item() == pytest.approx(2.0)
    assert vq_empirical_bits_per_token(torch.tensor([5, 5, 5, 5]), 16).item() == 0.0
    assert vq_empirical_bits_per_token(torch.tensor([0, 1, 0, 1]), 16).item() == pytest.approx(1.0)
    # Atom 0 in every token (0 bits), atom 1 in half (1 bit), atom 2 in a quarter (h(1/4) = 0.8113).
    code = code_of([[0, 1], [0, 1], [0, 2], [0, -1]], [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 0.0]])
    h_quarter = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert sparse_empirical_bits_per_token(code, 8).item() == pytest.approx(1 + h_quarter)
    # Values: 1.0 and 2.0 quantise to two symbols (of 8), seen 4 and 3 times; 7/4 values per token.
    q = quantize_values(code, 3)
    h_values = -(4 / 7 * math.log2(4 / 7) + 3 / 7 * math.log2(3 / 7))
    assert sparse_empirical_bits_per_token(q, 8).item() == pytest.approx(1 + h_quarter + 7 / 4 * h_values)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: vq_bits_per_token(0), ValueError, "num_codes"),
        (lambda: support_bits(4, 5), ValueError, "sparsity"),
        (lambda: sparse_bits_per_token(16, 4, value_bits=0), ValueError, "value_bits"),
        (lambda: quantize_values(code_of([[0]], [[1.0]]), 0), ValueError, "bits"),
        (lambda: quantize_values(code_of([[0]], [[1.0]]), 2, max_abs=-1.0), ValueError, "max_abs"),
        (lambda: quantize_values(torch.zeros(3), 2), TypeError, "code"),
        (lambda: entropy_bits(torch.zeros(3), 2), TypeError, "symbols"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
