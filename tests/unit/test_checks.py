import math

import pytest
import torch

from laserlab.checks import check_finite, check_number


@pytest.mark.parametrize(
    ("value", "options"),
    [
        (0, {"minimum": 0}),
        (0.5, {"minimum": 0, "maximum": 1, "exclusive": True}),
        (-3.0, {}),
        (1, {"maximum": 1}),
    ],
)
def test_check_number_accepts(value, options):
    check_number(value, "x", **options)


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [
        (-0.1, {"minimum": 0}, r"x must be a finite number in \[0, inf\]; got -0.1"),
        (0, {"minimum": 0, "maximum": 1, "exclusive": True}, r"in \(0, 1\); got 0"),
        (1.0, {"minimum": 0, "maximum": 1, "exclusive": True}, r"in \(0, 1\); got 1.0"),
        (2, {"maximum": 1}, r"in \[-inf, 1\]; got 2"),
        (math.nan, {}, "got nan"),
        (math.inf, {"minimum": 0}, "got inf"),
        (True, {}, "got True"),
        ("0.5", {}, "got '0.5'"),
        (None, {}, "got None"),
    ],
)
def test_check_number_rejects_with_the_expected_form(value, options, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "x", **options)


def test_check_finite_is_exact_on_overflowing_sums_and_finds_single_bad_values():
    check_finite(torch.full((4,), 3e38), "x")  # the sum overflows, every value is finite
    check_finite(torch.tensor([1, 2]), "x")
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.zeros(1000)
        x[537] = bad
        with pytest.raises(ValueError, match="x must be finite"):
            check_finite(x, "x")
    with pytest.raises(ValueError, match="x must be finite"):
        check_finite(torch.tensor([float("inf"), -float("inf")]), "x")
