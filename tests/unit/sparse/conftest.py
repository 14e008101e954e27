"""Fixtures for the sparse-coding tests: real image signals from a bundled sample photograph."""

from __future__ import annotations

import pytest

from laserlab.bottlenecks import to_tokens
from laserlab.data import load_source


@pytest.fixture(scope="session")
def photo():
    """One sample photograph (1, 3, H, W) in [0, 1]."""
    return load_source("coffee", short_side=128)[None]


@pytest.fixture(scope="session")
def real_signals(photo):
    """Real signals by dimension: 3 = RGB pixels, 64 = 8×8 grey patches, 192 = 8×8 RGB patches (float64)."""
    grey = photo.mean(dim=1, keepdim=True)
    return {
        3: to_tokens(photo, 1).double(),
        64: to_tokens(grey, 8).double(),
        192: to_tokens(photo, 8).double(),
    }
