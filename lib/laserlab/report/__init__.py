"""Reports: run every notebook headlessly with a parameter profile and publish HTML with provenance.

``run_report("quick")`` executes each ``notebooks/*.ipynb`` with papermill in its own process, taking
parameters from ``notebooks/params/<profile>.yaml`` (one section per notebook), and writes under
``reports/<profile>/``: the executed ``<name>.ipynb``, its ``<name>.html``, a ``<name>.log``, the
notebook's own outputs in ``<name>/`` (``metrics.json``, ``provenance.json``, checkpoints) and an
``index.html`` with one row per notebook. A failing notebook is marked failed with its error and cell;
the others still run.

Inside a notebook, the second cell calls :func:`provenance` and the last calls
:meth:`Provenance.save_metrics`; :func:`table` formats plain-text tables for printing.

- :mod:`.profiles` — a notebook's ``parameters`` cell and the profiles that set it;
- :mod:`.record` — provenance, seeding, metrics and the data/weights used;
- :mod:`.runner` — the papermill runner and the HTML conversion;
- :mod:`.index` — the index page;
- :mod:`.tables` — plain-text tables.
"""

from .index import write_index
from .profiles import check_parameters, load_profile, notebook_parameters, profiles
from .record import (
    PACKAGES,
    Provenance,
    git_commit,
    jsonable,
    package_versions,
    provenance,
    seed_everything,
    usage_summary,
)
from .runner import NotebookResult, discover_notebooks, run_notebook, run_report, to_html, widget_assets
from .tables import table

__all__ = [
    "PACKAGES",
    "NotebookResult",
    "Provenance",
    "check_parameters",
    "discover_notebooks",
    "git_commit",
    "jsonable",
    "load_profile",
    "notebook_parameters",
    "package_versions",
    "profiles",
    "provenance",
    "run_notebook",
    "run_report",
    "seed_everything",
    "table",
    "to_html",
    "usage_summary",
    "widget_assets",
    "write_index",
]
