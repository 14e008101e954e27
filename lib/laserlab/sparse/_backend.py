"""Which implementation runs: the compiled numba kernels on CPU, vectorised torch elsewhere."""

from __future__ import annotations

from functools import cache

import torch

from ..checks import check_choice

BACKENDS = ("auto", "numba", "torch")


def check_backend(backend: str, tensor: torch.Tensor) -> None:
    check_choice(backend, "backend", BACKENDS)
    if backend == "numba" and tensor.device.type != "cpu":
        raise ValueError(f"backend 'numba' runs on CPU tensors only; the inputs are on {tensor.device}")


@cache
def kernels():
    """The compiled kernels module, or None when numba is not importable (first use compiles or loads)."""
    try:
        from . import _kernels
    except ImportError:
        return None
    return _kernels


def use_numba(tensor: torch.Tensor, backend: str) -> bool:
    """Whether to run the numba kernel for inputs like ``tensor`` under ``backend``."""
    if backend == "torch" or tensor.device.type != "cpu":
        return False
    if kernels() is None:
        if backend == "numba":
            raise ValueError("backend 'numba' needs the numba package; use backend='torch' or 'auto'")
        return False
    return True
