"""Data makers shared by the sparse-coding tests: planted sparse codes, Gaussian dictionaries."""

from __future__ import annotations

import numpy as np
import torch


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def planted(n, dim, num_atoms, sparsity, *, noise=0.01, seed=0, dtype=torch.float64):
    """(signals, dictionary, true indices): S-sparse N(0, 1) codes over a unit-norm Gaussian dictionary."""
    rng = np.random.default_rng(seed)
    dictionary = unit_rows(torch.from_numpy(rng.standard_normal((num_atoms, dim))))
    indices = torch.from_numpy(np.argsort(rng.random((n, num_atoms)), axis=1)[:, :sparsity].copy())
    values = torch.from_numpy(rng.standard_normal((n, sparsity)))
    signals = torch.einsum("ns,nsm->nm", values, dictionary[indices])
    signals = signals + noise * torch.from_numpy(rng.standard_normal((n, dim)))
    return signals.to(dtype), dictionary.to(dtype), indices


def gaussian_dictionary(num_atoms, dim, *, seed=1, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    return unit_rows(torch.from_numpy(rng.standard_normal((num_atoms, dim)))).to(dtype)
