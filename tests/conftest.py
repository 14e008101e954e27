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
