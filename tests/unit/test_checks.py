import math

import pytest
import torch

from laserlab.checks import (
    check_bool,
    check_choice,
    check_finite,
    check_int,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)


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


# One convention for the whole library: a wrong type is a TypeError, a wrong value a ValueError.
@pytest.mark.parametrize("value", [True, "0.5", None, [1.0], torch.tensor(0.5)])
def test_check_number_rejects_non_numbers_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"x must be a finite number in \[-inf, inf\]; got "):
        check_number(value, "x")


@pytest.mark.parametrize("check", [check_positive_int, check_nonnegative_int])
@pytest.mark.parametrize("value", [2.0, True, "3", None, torch.tensor(3)])
def test_int_checks_reject_non_ints_with_a_type_error(check, value):
    with pytest.raises(TypeError, match="n must be an int >= "):
        check(value, "n")


def test_int_checks_reject_out_of_range_ints_with_a_value_error():
    with pytest.raises(ValueError, match=r"n must be an int >= 1; got 0"):
        check_positive_int(0, "n")
    with pytest.raises(ValueError, match=r"n must be an int >= 0; got -1"):
        check_nonnegative_int(-1, "n")
    with pytest.raises(ValueError, match=r"n must be an int in \[2, 4\]; got 5"):
        check_int(5, "n", minimum=2, maximum=4)
    check_nonnegative_int(0, "n")
    check_int(-7, "n")


@pytest.mark.parametrize("value", [1, 0, "no", "yes", None, torch.tensor(True)])
def test_check_bool_accepts_only_true_and_false(value):
    with pytest.raises(TypeError, match=r"flag must be a bool \(True or False\)"):
        check_bool(value, "flag")
    check_bool(True, "flag")
    check_bool(False, "flag")


def test_check_choice_lists_the_allowed_values():
    check_choice("omp", "solver", ("omp", "mp"))
    with pytest.raises(ValueError, match=r"solver must be one of \['omp', 'mp'\]; got 'lasso'"):
        check_choice("lasso", "solver", ("omp", "mp"))
    with pytest.raises(ValueError, match="got True"):
        check_choice(True, "flag", (1, 0))


def test_check_tensor_names_the_expected_shape_and_rejects_empty_or_non_finite():
    from laserlab.checks import check_tensor

    check_tensor(torch.zeros(2, 3), "x", shape="(N, M)")
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        check_tensor([[0.0]], "x", shape="(N, M)")
    with pytest.raises(TypeError, match="floating-point"):
        check_tensor(torch.zeros(2, 3, dtype=torch.long), "x", shape="(N, M)")
    with pytest.raises(ValueError, match=r"x must have shape \(N, M\); got \(6,\)"):
        check_tensor(torch.zeros(6), "x", shape="(N, M)")
    with pytest.raises(
        ValueError, match=r"x must not be empty: every dimension of \(N, M\) >= 1; got \(0, 3\)"
    ):
        check_tensor(torch.zeros(0, 3), "x", shape="(N, M)")
    with pytest.raises(ValueError, match="x must be finite"):
        check_tensor(torch.tensor([[float("nan")]]), "x", shape="(N, M)")
    check_tensor(torch.tensor([[float("nan")]]), "x", shape="(N, M)", finite=False)
