"""Boundary validation shared by the whole library: one message style, naming the argument.

Each check raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a wrong shape, range or
non-finite value, and returns nothing.
"""

from __future__ import annotations

import math

import torch


def check_float_tensor(x, name: str) -> None:
    """``x`` must be a floating-point torch tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype (float32 or float64); got {x.dtype}")


def check_finite(x: torch.Tensor, name: str) -> None:
    # A NaN or Inf anywhere makes the sum non-finite; one reduction is ~20x cheaper than isfinite().all()
    # (which also materialises a mask). Only a non-finite sum (possibly mere overflow) takes the exact path.
    if x.is_floating_point() and bool(torch.isfinite(x.sum())):
        return
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite; it contains NaN or Inf")


def check_tensor(x, name: str, *, shape: str, finite: bool = True) -> None:
    """``x`` must be a float tensor with one dimension per name in ``shape`` (e.g. ``"(B, C, H, W)"``),
    none of them zero-sized, and (with ``finite``) no NaN or Inf."""
    check_float_tensor(x, name)
    names = [part.strip() for part in shape.strip("()").split(",")]
    if x.ndim != len(names):
        raise ValueError(f"{name} must have shape {shape}; got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty: every dimension of {shape} >= 1; got {tuple(x.shape)}")
    if finite:
        check_finite(x, name)


def check_images(
    x, name: str = "images", *, channels: int | None = 3, value_range: tuple[float, float] | None = (0.0, 1.0)
) -> None:
    """``x`` must be a float image batch (B, C, H, W), finite, with values in ``value_range``."""
    check_float_tensor(x, name)
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W); got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels, shape (B, {channels}, H, W); got {tuple(x.shape)}"
        )
    check_finite(x, name)
    if value_range is not None and x.numel():
        low, high = value_range
        lo, hi = float(x.detach().min()), float(x.detach().max())  # detached: no warning for loss inputs
        if lo < low or hi > high:
            raise ValueError(
                f"{name} must have values in [{low:g}, {high:g}] (laserlab images are floats in [0, 1]); "
                f"got min {lo:.9g}, max {hi:.9g}"
            )


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> None:
    """``value`` must be an int (not a bool) within [minimum, maximum]: ``TypeError`` for another type,
    ``ValueError`` for an int out of range."""
    low = "-inf" if minimum is None else str(minimum)
    high = "inf" if maximum is None else str(maximum)
    expected = f"an int in [{low}, {high}]" if maximum is not None else f"an int >= {low}"
    if minimum is None and maximum is None:
        expected = "an int"
    if not _is_int(value):
        raise TypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}; got {value!r}")


def check_positive_int(value, name: str) -> None:
    """``value`` must be an int >= 1 (``TypeError`` for a non-int, ``ValueError`` below 1)."""
    check_int(value, name, minimum=1)


def check_nonnegative_int(value, name: str) -> None:
    """``value`` must be an int >= 0 (``TypeError`` for a non-int, ``ValueError`` below 0)."""
    check_int(value, name, minimum=0)


def check_bool(value, name: str) -> None:
    """``value`` must be ``True`` or ``False`` (a truthy string or 1 is a ``TypeError``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False); got {value!r}")


def check_choice(value, name: str, choices) -> None:
    """``value`` must be one of ``choices`` (compared with ``==``; a ``ValueError`` listing them)."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")


def check_number(
    value, name: str, *, minimum: float | None = None, maximum: float | None = None, exclusive: bool = False
) -> None:
    """``value`` must be a finite real number (int or float, not bool) within [minimum, maximum].

    ``exclusive=True`` excludes the given bounds, e.g. a decay in (0, 1). A non-number is a ``TypeError``;
    NaN, ±Inf or a number out of range a ``ValueError``.
    """
    low = "-inf" if minimum is None else f"{minimum:g}"
    high = "inf" if maximum is None else f"{maximum:g}"
    expected = f"a finite number in {'(' if exclusive else '['}{low}, {high}{')' if exclusive else ']'}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    below = minimum is not None and (value <= minimum if exclusive else value < minimum)
    above = maximum is not None and (value >= maximum if exclusive else value > maximum)
    if below or above:
        raise ValueError(f"{name} must be {expected}; got {value!r}")
