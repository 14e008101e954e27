"""Where the workbench keeps things: repository root, data cache and reports.

Environment overrides: ``LASERLAB_DATA_DIR`` (datasets), ``LASERLAB_REPORTS_DIR`` (reports root),
``LASERLAB_NOTEBOOKS_DIR`` (the notebooks a report runs) and ``LASERLAB_OUTPUT_DIR`` (the current
notebook's output folder, set by the report runner).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout holding ``lib/laserlab`` (editable install), else the current directory."""
    candidate = _PACKAGE_DIR.parent.parent
    if (candidate / "notebooks").is_dir() and (candidate / "lib").is_dir():
        return candidate
    return Path.cwd()


def notebooks_dir() -> Path:
    """Notebooks and their ``params/`` profiles: ``$LASERLAB_NOTEBOOKS_DIR`` or ``<repo>/notebooks``."""
    return Path(os.environ.get("LASERLAB_NOTEBOOKS_DIR") or repo_root() / "notebooks")


def data_dir() -> Path:
    """Dataset downloads and derived data: ``$LASERLAB_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("LASERLAB_DATA_DIR") or repo_root() / "data")


def reports_dir() -> Path:
    """Root of generated reports: ``$LASERLAB_REPORTS_DIR`` or ``<repo>/reports``."""
    return Path(os.environ.get("LASERLAB_REPORTS_DIR") or repo_root() / "reports")


def output_dir(notebook: str) -> Path:
    """Folder for one notebook's artefacts (metrics.json, checkpoints).

    The report runner sets ``LASERLAB_OUTPUT_DIR``; interactive sessions use
    ``<reports>/interactive/<notebook>``.
    """
    path = Path(os.environ.get("LASERLAB_OUTPUT_DIR") or reports_dir() / "interactive" / notebook)
    path.mkdir(parents=True, exist_ok=True)
    return path
