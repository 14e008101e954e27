import math

import pytest
import torch
import torch.nn.functional as F

from laserlab.scaling import (
    common_exponent,
    exponents,
    in_safe_range,
    ldexp,
    outside_safe_range,
    peak,
    row_norms,
    row_shifts,
    safe_range,
    unit_rows,
)


def reference_ldexp(value: float, k: int) -> float:
    """value · 2^k correctly rounded to float64 (±inf on overflow)."""
    try:
        return math.ldexp(value, k)
    except OverflowError:
        return math.copysign(math.inf, value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ldexp_is_exact_over_the_whole_exponent_range(dtype):
    info = torch.finfo(dtype)
    values = torch.tensor([info.tiny * 3, 1.5, info.max / 4, 0.0, -2.75], dtype=dtype)
    high = math.frexp(info.max)[1]
    for k in range(-3 * high, 3 * high, 7):
        # float32 inputs times 2^k are exact in float64 here, so casting rounds once, as ldexp must
        expected = torch.tensor([reference_ldexp(float(v), k) for v in values], dtype=torch.float64)
        assert torch.equal(ldexp(values, k), expected.to(dtype)), k


def test_exponents_bring_peaks_to_half_open_unit_interval():
    peaks = torch.tensor([0.0, 1e-40, 3.0, 1e30])
    scaled = ldexp(peaks, -exponents(peaks))
    assert scaled[0] == 0 and ((scaled[1:] >= 0.5) & (scaled[1:] < 1)).all()


def test_shifts_only_for_magnitudes_outside_the_safe_range():
    peaks = torch.tensor([0.0, 1.0, 2.0**32, 2.0**33, 2.0**-32, 2.0**-33, 3e-39])
    assert outside_safe_range(peaks, torch.float32).tolist() == [False, False, False, True, False, True, True]
    assert row_shifts(peaks, torch.float32).tolist() == [0, 0, 0, 34, 0, -32, -127]
    assert common_exponent(2.0**-32, 2.0**32, torch.float32) is None
    assert common_exponent(float("inf"), 0.0, torch.float32) is None  # all zero
    assert common_exponent(1.0, 3e20, torch.float32) == exponents(torch.tensor(3e20, dtype=torch.float64))
    assert common_exponent(1e-20, 1e-20, torch.float32) == math.frexp(1e-20)[1]
    assert common_exponent(1e-20, 1e-20, torch.float64) is None


def test_peak_checks_finiteness_and_reports_the_range():
    x = torch.tensor([[0.0, 0.0], [1e-30, -2.0], [3.0, 0.5]])
    peaks, smallest, largest = peak(x, "x", rows=True)
    assert peaks.tolist() == [0.0, 2.0, 3.0] and smallest == 2.0 and largest == 3.0
    assert peak(torch.zeros(0, 3), "x")[1:] == (math.inf, 0.0)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="y must be finite"):
            peak(torch.tensor([1.0, bad]), "y")
    with pytest.raises(TypeError, match="y must have a floating"):
        peak(torch.tensor([1, 2]), "y")
    low, high = safe_range(torch.float32)
    assert (low, high) == (2.0**-32, 2.0**32) and in_safe_range(low, high, torch.float32)
    assert not in_safe_range(low / 2, 1.0, torch.float32) and in_safe_range(math.inf, 0.0, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unit_rows_and_row_norms_are_the_plain_ones_in_range_and_exact_outside(dtype):
    x = torch.randn(20, 7, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert torch.equal(unit_rows(x), F.normalize(x, dim=1))
    assert torch.equal(row_norms(x), torch.linalg.vector_norm(x, dim=1))
    exponent = 70 if dtype == torch.float32 else 600
    for sign in (1, -1):
        scaled = x * 2.0 ** (sign * exponent)
        assert torch.equal(unit_rows(scaled), F.normalize(x, dim=1))
        assert torch.equal(row_norms(scaled), torch.linalg.vector_norm(x, dim=1) * 2.0 ** (sign * exponent))
    assert torch.equal(unit_rows(torch.zeros(2, 3, dtype=dtype)), torch.zeros(2, 3, dtype=dtype))
