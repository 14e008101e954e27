"""Reports: run every notebook headlessly with a parameter profile and publish HTML with provenance.

``run_report("quick")`` executes each ``notebooks/*.ipynb`` with papermill in its own process, taking
parameters from ``notebooks/params/<profile>.yaml`` (one section per notebook), and writes under
``reports/<profile>/``: the executed ``<name>.ipynb``, its ``<name>.html``, a ``<name>.log``, the
notebook's own outputs in ``<name>/`` (``metrics.json``, ``provenance.json``, checkpoints) and an
``index.html`` with one row per notebook. A failing notebook is marked failed with its error and cell;
the others still run.

Inside a notebook, the second cell calls :func:`provenance` and the last calls
:meth:`Provenance.save_metrics`.
"""

from __future__ import annotations

import ast
import datetime as _dt
import html
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from . import paths, usage

PACKAGES = (
    "laserlab",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "lightning",
    "torchmetrics",
    "scikit-learn",
    "scikit-image",
    "lpips",
    "umap-learn",
    "matplotlib",
    "papermill",
)


# --------------------------------------------------------------------------------------------------
# Parameters and profiles


def notebook_parameters(notebook: str | Path) -> dict[str, object]:
    """Names and default values assigned in the notebook's cell tagged ``parameters``.

    Defaults that are not literals are returned as their source text.
    """
    import nbformat

    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(
            f"notebook {path.name} must have exactly one cell tagged 'parameters'; found {len(cells)}"
        )
    tree = ast.parse(cells[0].source)
    params: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            raise ValueError(
                f"the parameters cell of {path.name} must hold only simple assignments `name = value`; "
                f"found {ast.unparse(node)!r}"
            )
        try:
            params[target] = ast.literal_eval(value)
        except ValueError:
            params[target] = ast.unparse(value)
    return params


def profiles() -> list[str]:
    """Names of the profiles in ``notebooks/params`` (e.g. "quick", "full")."""
    return sorted(p.stem for p in (paths.notebooks_dir() / "params").glob("*.yaml"))


def load_profile(profile: str, notebooks: list[Path]) -> dict[str, dict]:
    """Parameters per notebook for ``profile``; every section and name must exist in its notebook."""
    known = profiles()
    if profile not in known:
        raise ValueError(f"profile must be one of {known} (files in notebooks/params/); got {profile!r}")
    raw = yaml.safe_load((paths.notebooks_dir() / "params" / f"{profile}.yaml").read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"profile {profile!r} must be a mapping of notebook name to parameters")
    by_name = {p.stem: p for p in notebooks}
    unknown_sections = sorted(set(raw) - set(by_name))
    if unknown_sections:
        raise ValueError(
            f"profile {profile!r} has sections for unknown notebooks {unknown_sections}; "
            f"known: {sorted(by_name)}"
        )
    result = {}
    for name, path in by_name.items():
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise ValueError(f"profile {profile!r}, section {name!r} must be a mapping of parameter to value")
        check_parameters(path, section)
        result[name] = section
    return result


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Raise ``ValueError`` when ``parameters`` names something the notebook's parameters cell lacks."""
    defined = notebook_parameters(notebook)
    unknown = sorted(set(parameters) - set(defined))
    if unknown:
        raise ValueError(
            f"unknown notebook parameter(s) {unknown} for {notebook.name}; its parameters cell defines "
            f"{sorted(defined)}"
        )


# --------------------------------------------------------------------------------------------------
# Provenance (inside a notebook)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=paths.repo_root(), capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def git_commit() -> str:
    """Short commit hash, with ``+dirty`` when tracked files are modified; "unknown" outside git."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _device() -> str:
    import torch

    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}); CPU threads {threads}"
    return f"cpu ({platform.processor() or platform.machine()}); threads {threads}"


def _jsonable(value, *, digits: int | None = None):
    """Plain JSON values: tensors and NumPy scalars become numbers; floats keep ``digits`` significant."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, digits=digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, digits=digits) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.{digits}g}") if digits else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


@dataclass
class Provenance:
    """What a notebook run used: parameters, versions, seed, commit, device, and data/weights as loaded."""

    notebook: str
    profile: str
    parameters: dict
    seed: int
    versions: dict
    commit: str
    device: str
    started: str
    output_dir: Path = field(repr=False)

    def __str__(self) -> str:
        width = max(len(k) for k in self.parameters) if self.parameters else 0
        lines = [
            f"notebook   {self.notebook}   (profile: {self.profile})",
            f"commit     {self.commit}",
            f"seed       {self.seed}",
            f"device     {self.device}",
            "versions   " + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
            "parameters",
            *(f"  {k:<{width}} = {v!r}" for k, v in self.parameters.items()),
        ]
        return "\n".join(lines)

    def save_metrics(self, metrics: dict, *, headline: list[str] | None = None) -> Path:
        """Write ``metrics.json`` (deterministic: values only, floats to 6 significant digits) and
        ``provenance.json`` (this record plus the data and weights actually used) to ``output_dir``.

        ``headline`` names the metrics shown in the report index (default: the first six scalars).
        Prints the data/weights used, with a banner if anything was substituted. Returns the metrics path.
        """
        metrics = _jsonable(metrics, digits=6)
        scalars = [
            k for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
        ]
        headline = list(headline) if headline is not None else scalars[:6]
        missing = [k for k in headline if k not in metrics]
        if missing:
            raise ValueError(f"headline names metrics that were not given: {missing}")
        path = self.output_dir / "metrics.json"
        path.write_text(
            json.dumps({"metrics": metrics, "headline": headline}, indent=2, sort_keys=True) + "\n"
        )
        used = [r.as_dict() for r in usage.records()]
        record = {
            **asdict(self),
            "output_dir": str(self.output_dir),
            "used": used,
            "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        (self.output_dir / "provenance.json").write_text(json.dumps(_jsonable(record), indent=2) + "\n")
        print(usage_summary())
        return path


def usage_summary() -> str:
    """The data and weights used so far, with a loud banner for substitutions."""
    records = usage.records()
    lines = ["data and weights used:"]
    lines += [
        f"  {r.kind:<7} {r.name}: {r.source}" + (" [SUBSTITUTED]" if r.substituted else "") for r in records
    ]
    if len(lines) == 1:
        lines.append("  (none recorded)")
    substituted = [r for r in records if r.substituted]
    if substituted:
        bar = "!" * 100
        lines = [
            bar,
            "!!! SUBSTITUTED: the following are not the real data/weights; numbers are not comparable",
            *(f"!!!   {r.kind} {r.name}: {r.source} — {r.reason}" for r in substituted),
            bar,
            *lines,
        ]
    return "\n".join(lines)


def provenance(namespace: dict, *, notebook: str) -> Provenance:
    """Record and print this run's provenance and seed everything; call it in a notebook's second cell.

    ``namespace`` is the notebook's ``globals()``: the values of the names defined in its ``parameters``
    cell are taken from it (so papermill's injected values are what gets recorded). ``seed`` (default 0)
    seeds Python, NumPy and torch.
    """
    path = paths.notebooks_dir() / f"{notebook}.ipynb"
    if not path.is_file():
        raise ValueError(
            f"notebook must name a notebook in {paths.notebooks_dir()}; {path.name} does not exist"
        )
    names = notebook_parameters(path)
    parameters = {name: namespace[name] for name in names if name in namespace}
    seed = int(parameters.get("seed", 0))
    seed_everything(seed)
    usage.clear()
    record = Provenance(
        notebook=notebook,
        profile=os.environ.get("LASERLAB_PROFILE", "interactive"),
        parameters=parameters,
        seed=seed,
        versions=package_versions(),
        commit=git_commit(),
        device=_device(),
        started=_dt.datetime.now().isoformat(timespec="seconds"),
        output_dir=paths.output_dir(notebook),
    )
    print(record)
    return record


# --------------------------------------------------------------------------------------------------
# Running notebooks


@dataclass
class NotebookResult:
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

    Returns one result per notebook; never raises for a failing notebook (see ``status``).
    """
    notebooks = discover_notebooks()
    all_params = load_profile(profile, notebooks)
    if only:
        unknown = sorted(set(only) - {p.stem for p in notebooks})
        if unknown:
            raise ValueError(f"only names unknown notebooks {unknown}; known: {[p.stem for p in notebooks]}")
        notebooks = [p for p in notebooks if p.stem in only]
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds; got {timeout!r}")
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


# --------------------------------------------------------------------------------------------------
# Index page

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.ok { color: #137333; font-weight: 600; } .failed, .timeout { color: #b3261e; font-weight: 600; }
.banner { background: #fff3cd; border: 2px solid #b3261e; padding: .5rem; margin: .25rem 0; }
pre { background: #f8f8f8; padding: .5rem; overflow-x: auto; max-height: 20em; }
.meta { color: #555; }
"""


def _format_metric(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def write_index(target_dir: Path, profile: str, results: list[NotebookResult]) -> Path:
    """Write ``index.html`` and ``report.json`` summarising ``results``."""
    rows = []
    for r in results:
        metrics = "<br>".join(f"{html.escape(k)} = {_format_metric(r.metrics[k])}" for k in r.headline)
        substituted = [u for u in r.used if u.get("substituted")]
        banner = "".join(
            f'<div class="banner">SUBSTITUTED {html.escape(u["kind"])} {html.escape(u["name"])}: '
            f"{html.escape(u['source'])}</div>"
            for u in substituted
        )
        error = ""
        if not r.ok:
            error = f"<div><b>{html.escape(r.error)}</b></div>"
            if r.failed_cell:
                error += f"<div>in cell:</div><pre>{html.escape(r.failed_cell)}</pre>"
        links = " · ".join(
            f'<a href="{html.escape(n)}">{label}</a>'
            for n, label in (
                (f"{r.name}.html", "html"),
                (f"{r.name}.ipynb", "ipynb"),
                (f"{r.name}.log", "log"),
            )
            if (target_dir / n).exists()
        )
        rows.append(
            f'<tr><td><a href="{html.escape(r.name)}.html">{html.escape(r.name)}</a></td>'
            f'<td class="{r.status}">{r.status.upper()}</td><td>{r.duration_s:.0f} s</td>'
            f"<td>{metrics}{banner}{error}</td><td>{links}</td></tr>"
        )
    n_ok = sum(r.ok for r in results)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>laserlab report — {html.escape(profile)}</title>
<style>{_STYLE}</style></head><body>
<h1>laserlab report — profile <code>{html.escape(profile)}</code></h1>
<p class="meta">{n_ok}/{len(results)} notebooks OK · commit {html.escape(git_commit())} ·
generated {_dt.datetime.now().isoformat(timespec="seconds")} · Python {platform.python_version()}</p>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>headline metrics</th><th>files</th></tr>
{"".join(rows)}
</table></body></html>
"""
    index = target_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    summary = [{**asdict(r), "ok": r.ok} for r in results]
    (target_dir / "report.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    return index
