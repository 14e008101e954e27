"""Test-suite wide settings: keep notebook outputs out of the repository and mark notebook runs slow."""

from __future__ import annotations

import os
import tempfile

import pytest

# Notebooks executed by nbval (and anything calling laserlab.paths.output_dir) write into a throwaway
# reports folder, never into the checkout's reports/.
os.environ.setdefault("LASERLAB_REPORTS_DIR", tempfile.mkdtemp(prefix="laserlab-test-reports-"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny-model tests: more threads than free cores only make OpenMP
    spin (10-50x slower on a shared machine). Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
