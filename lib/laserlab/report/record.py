"""What a notebook run records: its provenance (parameters, package versions, seed, git commit, device),
its metrics, and the data and weights it actually used.

A notebook's second cell calls :func:`provenance` (which also seeds everything and quiets library
start-up chatter); its last cell calls :meth:`Provenance.save_metrics`, which writes ``metrics.json`` and
``provenance.json`` to the notebook's output folder for the report index.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import random
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from .. import paths, usage
from ..checks import check_int
from ..quiet import quiet_library_chatter
from .profiles import notebook_parameters

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
    """The Python version and the installed version of each of ``PACKAGES`` ("not installed" if absent)."""
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


def jsonable(value, *, digits: int | None = None):
    """Plain JSON values: tensors and NumPy values become numbers and lists, non-finite floats strings,
    other objects their ``str``; floats keep ``digits`` significant digits when given."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v, digits=digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, digits=digits) for v in value]
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
        metrics = jsonable(metrics, digits=6)
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
            "finished": dt.datetime.now().isoformat(timespec="seconds"),
        }
        (self.output_dir / "provenance.json").write_text(json.dumps(jsonable(record), indent=2) + "\n")
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
    seeds Python, NumPy and torch. Library chatter (Lightning's info lines and tips, known deprecation
    notices) is silenced for the rest of the session (:func:`laserlab.quiet.quiet_library_chatter`); real
    warnings still show.
    """
    path = paths.notebooks_dir() / f"{notebook}.ipynb"
    if not path.is_file():
        raise ValueError(
            f"notebook must name a notebook in {paths.notebooks_dir()}; {path.name} does not exist"
        )
    quiet_library_chatter()
    names = notebook_parameters(path)
    parameters = {name: namespace[name] for name in names if name in namespace}
    seed = parameters.get("seed", 0)
    check_int(seed, "seed")
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
        started=dt.datetime.now().isoformat(timespec="seconds"),
        output_dir=paths.output_dir(notebook),
    )
    print(record)
    return record
