"""Rates of discrete bottlenecks, in bits per token and bits per pixel.

Fixed-rate (closed form, what an encoder without entropy coding pays):
  - VQ: log2 K bits per token (one index out of K codewords);
  - S-sparse code: log2 C(K, S) bits for the unordered support plus S·b bits for the coefficients under a
    b-bit uniform quantiser (:func:`quantize_values`). Example: K = 16, S = 4, b = 8 → 10.83 + 32 bits.

Empirical (what an ideal entropy coder fitted to the observed statistics pays):
  - VQ: the entropy of the index histogram;
  - sparse: each atom's presence as an independent Bernoulli variable with its observed frequency, plus the
    entropy of the quantised coefficient symbols times the mean number of atoms per token.

:func:`bits_per_pixel` turns bits per token into bits per image pixel given the token grid and image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..checks import check_finite, check_float_tensor, check_int, check_number, check_positive_int
from .omp import SparseCode, check_code


@dataclass(kw_only=True)
class QuantizedCode(SparseCode):
    """A :class:`SparseCode` whose coefficients went through a ``bits``-bit uniform (mid-rise) quantiser.

    Inherited: ``indices`` (N, S) long as in the source code (-1 in empty slots); ``values`` (N, S): the
    dequantised coefficients (0 in empty slots), what a decoder uses; ``residual_norm``: None (the
    quantisation changed the fit). Added: ``symbols`` (N, S) long in [0, 2^bits) (-1 in empty slots):
    what is transmitted; ``max_abs``: the clipping range, a scalar tensor sent once per batch; ``bits``.
    Build one with :func:`quantize_values` (encoder) or :func:`dequantize` (decoder).
    """

    symbols: torch.Tensor
    max_abs: torch.Tensor
    bits: int

    @property
    def step(self) -> torch.Tensor:
        """The quantiser step Δ = 2·max_abs / 2^bits (a scalar tensor)."""
        return 2 * self.max_abs / 2**self.bits


def vq_bits_per_token(num_codes: int) -> float:
    """log2 K: the fixed rate of one codeword index."""
    check_positive_int(num_codes, "num_codes")
    return math.log2(num_codes)


def support_bits(num_atoms: int, sparsity: int) -> float:
    """log2 C(K, S): the fixed rate of an unordered set of S atoms out of K."""
    check_positive_int(num_atoms, "num_atoms")
    check_positive_int(sparsity, "sparsity")
    if sparsity > num_atoms:
        raise ValueError(f"sparsity must be at most num_atoms = {num_atoms}; got {sparsity}")
    return math.log2(math.comb(num_atoms, sparsity))


def sparse_bits_per_token(num_atoms: int, sparsity: int, *, value_bits: int) -> float:
    """log2 C(K, S) + S·b: the fixed rate of an S-sparse code with b-bit coefficients."""
    check_value_bits(value_bits)
    return support_bits(num_atoms, sparsity) + sparsity * value_bits


def quantize_values(code: SparseCode, bits: int, *, max_abs: float | None = None) -> QuantizedCode:
    """Quantise the coefficients of ``code`` with a uniform mid-rise quantiser of 2^bits levels.

    Levels sit at (i + ½)·Δ − max_abs for i = 0 .. 2^bits − 1, Δ = 2·max_abs / 2^bits, so the error is at
    most Δ/2 for |value| ≤ max_abs (larger values are clipped). No level is 0: the support already says which
    atoms are present. ``max_abs`` defaults to the largest |coefficient| in the batch (1 for an all-zero
    code, which still needs a positive step; any level then decodes within Δ/2 of 0). The code's values
    must be finite.
    """
    check_code(code, "code")
    check_value_bits(bits, "bits")
    if max_abs is None:
        limit = code.values.abs().amax() if code.values.numel() else code.values.new_zeros(())
        limit = torch.where(limit > 0, limit, torch.ones_like(limit))
    else:
        check_number(max_abs, "max_abs", minimum=0, exclusive=True)
        limit = code.values.new_tensor(max_abs)
    levels = 2**bits
    symbols = torch.floor((code.values + limit) / (2 * limit / levels)).clamp_(0, levels - 1).long()
    symbols = torch.where(code.indices >= 0, symbols, torch.full_like(symbols, -1))
    return _dequantized(code.indices, symbols, limit, bits)


def dequantize(
    indices: torch.Tensor, symbols: torch.Tensor, *, max_abs: torch.Tensor | float, bits: int
) -> QuantizedCode:
    """The :class:`QuantizedCode` of transmitted ``indices`` and ``symbols`` (N, S) long (-1 in the same
    empty slots), with the quantiser range ``max_abs`` (> 0; a scalar tensor fixes the values' dtype, a
    float gives the default dtype) and ``bits``: value (symbol + ½)·Δ − max_abs per slot, 0 in empty slots
    — exactly the values :func:`quantize_values` produced."""
    check_value_bits(bits, "bits")
    for name, tensor in (("indices", indices), ("symbols", symbols)):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.long:
            got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise TypeError(f"{name} must be a torch.long tensor (N, S); got {got}")
    if indices.dim() != 2 or symbols.shape != indices.shape:
        raise ValueError(
            f"indices and symbols must have the same shape (N, S); got {tuple(indices.shape)} and "
            f"{tuple(symbols.shape)}"
        )
    levels = 2**bits
    in_range = torch.where(indices >= 0, (symbols >= 0) & (symbols < levels), symbols == -1)
    if not bool(in_range.all()):
        raise ValueError(
            f"symbols must lie in [0, 2^bits) = [0, {levels}) where indices >= 0 and be -1 in empty slots"
        )
    if isinstance(max_abs, torch.Tensor):
        check_float_tensor(max_abs, "max_abs")
        if max_abs.dim() != 0:
            raise ValueError(f"max_abs must be a scalar; got shape {tuple(max_abs.shape)}")
        check_number(float(max_abs), "max_abs", minimum=0, exclusive=True)
        limit = max_abs.to(indices.device)
    else:
        check_number(max_abs, "max_abs", minimum=0, exclusive=True)
        limit = torch.tensor(float(max_abs), device=indices.device)
    return _dequantized(indices, symbols, limit, bits)


def _dequantized(
    indices: torch.Tensor, symbols: torch.Tensor, limit: torch.Tensor, bits: int
) -> QuantizedCode:
    step = 2 * limit / 2**bits
    # in the range's dtype: a long + 0.5 would be the default float32 even for a float64 code
    values = ((symbols.to(limit.dtype) + 0.5) * step - limit) * (indices >= 0)
    return QuantizedCode(indices, values, symbols=symbols, max_abs=limit, bits=bits)


def check_value_bits(bits, name: str = "value_bits") -> None:
    """Bits of a quantised coefficient: an int in [1, 24] (coefficients are floats)."""
    check_int(bits, name, minimum=1, maximum=24)


_INTEGER_DTYPES = (torch.int16, torch.int32, torch.int64, torch.uint8, torch.int8)


def _check_symbols(symbols, name: str, num_symbols: int, *, allow_empty: bool) -> None:
    """``symbols`` must be an integer tensor with values in [0, num_symbols) (or -1, an empty slot, with
    ``allow_empty``)."""
    if not isinstance(symbols, torch.Tensor) or symbols.dtype not in _INTEGER_DTYPES:
        got = symbols.dtype if isinstance(symbols, torch.Tensor) else type(symbols).__name__
        raise TypeError(f"{name} must be an integer tensor; got {got}")
    if symbols.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(symbols.long()))
    lowest = -1 if allow_empty else 0
    if low < lowest or high >= num_symbols:
        expected = f"[0, {num_symbols})" + (" or -1 (an empty slot)" if allow_empty else "")
        raise ValueError(f"{name} must lie in {expected}; got min {low}, max {high}")


def entropy_bits(symbols: torch.Tensor, num_symbols: int) -> torch.Tensor:
    """Empirical entropy (bits per symbol) of integer ``symbols`` in [0, num_symbols); -1 marks an empty
    slot and is ignored, any other value outside the range is a ``ValueError``."""
    check_positive_int(num_symbols, "num_symbols")
    _check_symbols(symbols, "symbols", num_symbols, allow_empty=True)
    symbols = symbols.flatten().long()
    symbols = symbols[symbols >= 0]
    counts = torch.bincount(symbols, minlength=num_symbols).double()
    p = counts / counts.sum().clamp(min=1)
    return -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum()


def vq_empirical_bits_per_token(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Entropy of the observed codeword histogram (bits per token), at most log2 K; ``indices`` in
    [0, num_codes)."""
    check_positive_int(num_codes, "num_codes")
    _check_symbols(indices, "indices", num_codes, allow_empty=False)
    return entropy_bits(indices, num_codes)


def sparse_empirical_bits_per_token(code: SparseCode, num_atoms: int) -> torch.Tensor:
    """Bits per token of the support as K independent Bernoulli atoms, plus the quantised values' entropy.

    Support: Σ_k h(p_k), with p_k the fraction of tokens using atom k and h the binary entropy (this also
    codes how many atoms each token uses). Values (for a :class:`QuantizedCode` only): the empirical entropy
    of the symbols times the mean number of atoms per token. ``num_atoms`` K must exceed every index of
    ``code``.
    """
    check_positive_int(num_atoms, "num_atoms")
    check_code(code, "code", num_atoms=num_atoms)
    if isinstance(code, QuantizedCode):
        check_value_bits(code.bits, "code.bits")
        _check_symbols(code.symbols, "code.symbols", 2**code.bits, allow_empty=True)
        if code.symbols.shape != code.indices.shape:
            raise ValueError(
                f"code.symbols must have the shape of code.indices {tuple(code.indices.shape)}; "
                f"got {tuple(code.symbols.shape)}"
            )
    indices = code.indices
    n_tokens = max(indices.shape[0], 1)
    valid = indices >= 0
    usage = torch.bincount(indices[valid], minlength=num_atoms).double() / n_tokens
    inside = (usage > 0) & (usage < 1)
    p = torch.where(inside, usage, torch.full_like(usage, 0.5))
    bits = torch.where(inside, -(p * torch.log2(p) + (1 - p) * torch.log2(1 - p)), torch.zeros_like(p)).sum()
    if isinstance(code, QuantizedCode):
        bits = bits + entropy_bits(code.symbols, 2**code.bits) * valid.sum() / n_tokens
    return bits


def bits_per_pixel(
    bits_per_token: float | torch.Tensor, token_grid: tuple[int, int], image_size: tuple[int, int]
) -> float | torch.Tensor:
    """Bits per image pixel: bits_per_token × (tokens per image) / (pixels per image).

    ``token_grid`` (h, w): tokens per image along each axis (e.g. the latent grid divided by the patch
    size); ``image_size`` (H, W): the image in pixels. ``bits_per_token`` must be finite and >= 0 (a
    number, or a float tensor of any shape).
    """
    if isinstance(bits_per_token, torch.Tensor):
        check_float_tensor(bits_per_token, "bits_per_token")
        check_finite(bits_per_token, "bits_per_token")
        if bits_per_token.numel() and float(bits_per_token.min()) < 0:
            raise ValueError(f"bits_per_token must be >= 0; got min {float(bits_per_token.min()):.6g}")
    else:
        check_number(bits_per_token, "bits_per_token", minimum=0)
    for name, pair in (("token_grid", token_grid), ("image_size", image_size)):
        if not isinstance(pair, tuple | list):
            raise TypeError(f"{name} must be a pair (height, width) of positive ints; got {pair!r}")
        if len(pair) != 2:
            raise ValueError(f"{name} must be a pair (height, width) of positive ints; got {pair!r}")
        for value in pair:
            check_positive_int(value, name)
    bpp = bits_per_token * (token_grid[0] * token_grid[1]) / (image_size[0] * image_size[1])
    representable = bool(torch.isfinite(bpp).all()) if isinstance(bpp, torch.Tensor) else math.isfinite(bpp)
    if not representable:
        raise ValueError(f"bits_per_token is too large: the bits per pixel overflow; got {bits_per_token!r}")
    return bpp
