"""The papermill runner: execute notebooks headlessly with a profile's parameters and convert them to HTML.

``run_report("quick")`` executes each ``notebooks/*.ipynb`` with papermill in its own process, taking
parameters from ``notebooks/params/<profile>.yaml``, and writes under ``reports/<profile>/``: the executed
``<name>.ipynb``, its ``<name>.html``, a ``<name>.log``, the notebook's own outputs in ``<name>/``
(``metrics.json``, ``provenance.json``, checkpoints) and the index page (:func:`write_index`). A failing
or timed-out notebook is marked with its error and cell; the others still run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import paths
from ..checks import check_number
from ..quiet import pythonwarnings, quiet_library_chatter
from .index import write_index
from .profiles import load_profile


@dataclass
class NotebookResult:
    """One executed notebook: ``status`` "ok", "failed" or "timeout", wall time in seconds, the metrics and
    headline names it saved, the data/weights it used, and for a failure the error and the cell's source."""

    name: str
    status: str  # "ok", "failed" or "timeout"
    duration_s: float
    metrics: dict = field(default_factory=dict)
    headline: list = field(default_factory=list)
    used: list = field(default_factory=list)
    error: str = ""
    failed_cell: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _failure_from_notebook(path: Path) -> tuple[str, str]:
    """(error text, source of the failing or still-running cell) read from a papermill output notebook."""
    import nbformat

    if not path.is_file():
        return "", ""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("papermill", {})
        if cell.cell_type != "code" or not (meta.get("exception") or meta.get("status") == "running"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        text = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""
        return text, cell.source
    return "", ""


def _execute(
    src: Path, out: Path, parameters: dict, *, profile: str, output_dir: Path, log: Path, timeout: float
) -> tuple[str, str]:
    """Run one notebook in a papermill subprocess; return (status, error text)."""
    params_file = output_dir / "parameters.yaml"
    params_file.write_text(yaml.safe_dump(parameters))
    env = {
        **os.environ,
        "LASERLAB_PROFILE": profile,
        "LASERLAB_OUTPUT_DIR": str(output_dir),
        # The venv's kernelspec first, so the kernel is this interpreter whatever the user has installed.
        "JUPYTER_PATH": os.pathsep.join(
            [str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
        ),
        # Known library notices are filtered from the kernel's start, before the notebook imports anything.
        "PYTHONWARNINGS": pythonwarnings(os.environ.get("PYTHONWARNINGS", "")),
    }
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(src),
        str(out),
        "-f",
        str(params_file),
        "--cwd",
        str(src.parent),
        "--kernel",
        "python3",
        "--no-progress-bar",
    ]
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the kernel is in the same session: no orphans
            proc.wait()
            return "timeout", f"timed out after {timeout:.0f} s"
    if code == 0:
        return "ok", ""
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [f"papermill exited with {code}"]
    return "failed", tail[0]


def widget_assets() -> Path | None:
    """Folder holding the widget renderer fetched at ``make setup`` (``embed-amd.js``, ``require.js``)."""
    folder = Path(sys.prefix) / "share" / "laserlab" / "vendor"
    return folder if (folder / "embed-amd.js").is_file() and (folder / "require.js").is_file() else None


def to_html(notebook: Path, target: Path) -> None:
    """Convert an executed notebook to an HTML page (JupyterLab look).

    When the widget renderer was fetched at setup, it is copied to ``vendor/`` beside the page and used, so
    saved widget state renders without internet; otherwise nbconvert's CDN URLs stay in place.
    """
    import shutil

    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    assets = widget_assets()
    if assets is not None:
        vendor = target.parent / "vendor"
        vendor.mkdir(exist_ok=True)
        for name in ("embed-amd.js", "require.js"):
            if not (vendor / name).is_file():
                shutil.copy2(assets / name, vendor / name)
        exporter.require_js_url = "vendor/require.js"
        exporter.widget_renderer_url = "vendor/embed-amd.js"
    body, _ = exporter.from_filename(str(notebook))
    target.write_text(body, encoding="utf-8")


def run_notebook(
    src: Path, parameters: dict, *, profile: str, target_dir: Path, timeout: float
) -> NotebookResult:
    """Execute ``src`` with ``parameters`` into ``target_dir`` (``<name>.ipynb``, ``.html``, ``.log`` and the
    notebook's output folder ``<name>/``) and read back what it saved; ``timeout`` in seconds."""
    name = src.stem
    output_dir = target_dir / name
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.json", "provenance.json"):
        (output_dir / stale).unlink(missing_ok=True)
    out = target_dir / f"{name}.ipynb"
    started = time.perf_counter()
    status, error = _execute(
        src,
        out,
        parameters,
        profile=profile,
        output_dir=output_dir,
        log=target_dir / f"{name}.log",
        timeout=timeout,
    )
    duration = time.perf_counter() - started
    result = NotebookResult(name=name, status=status, duration_s=duration, error=error)
    if status != "ok":
        cell_error, result.failed_cell = _failure_from_notebook(out)
        result.error = cell_error or error
    metrics_file = output_dir / "metrics.json"
    if metrics_file.is_file():
        saved = json.loads(metrics_file.read_text())
        result.metrics, result.headline = saved["metrics"], saved["headline"]
    provenance_file = output_dir / "provenance.json"
    if provenance_file.is_file():
        result.used = json.loads(provenance_file.read_text()).get("used", [])
    if out.is_file():
        to_html(out, target_dir / f"{name}.html")
    return result


def discover_notebooks() -> list[Path]:
    """The notebooks a report runs: ``*.ipynb`` in the notebooks folder, in name order."""
    return sorted(paths.notebooks_dir().glob("*.ipynb"))


def run_report(
    profile: str = "quick",
    *,
    only: list[str] | None = None,
    timeout: float = 1800.0,
    reports_root: Path | None = None,
    echo=print,
) -> list[NotebookResult]:
    """Execute the notebooks (all, or those named in ``only``) with ``profile`` and write the report.

    ``timeout`` is in seconds per notebook. Returns one result per notebook; never raises for a failing
    notebook (see ``status``).
    """
    notebooks = discover_notebooks()
    all_params = load_profile(profile, notebooks)
    if only:
        unknown = sorted(set(only) - {p.stem for p in notebooks})
        if unknown:
            raise ValueError(f"only names unknown notebooks {unknown}; known: {[p.stem for p in notebooks]}")
        notebooks = [p for p in notebooks if p.stem in only]
    check_number(timeout, "timeout", minimum=0, exclusive=True)
    quiet_library_chatter()
    target_dir = (reports_root or paths.reports_dir()) / profile
    target_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for src in notebooks:
        echo(f"[{profile}] {src.stem}: running")
        result = run_notebook(
            src, all_params[src.stem], profile=profile, target_dir=target_dir, timeout=timeout
        )
        echo(
            f"[{profile}] {src.stem}: {result.status} in {result.duration_s:.0f} s"
            + (f" — {result.error}" if result.error else "")
        )
        results.append(result)
    write_index(target_dir, profile, results)
    return results
