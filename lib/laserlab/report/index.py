"""The report's index page: one row per notebook with its status, duration, headline metrics, substitution
banners, error and links, plus ``report.json`` with the same data."""

from __future__ import annotations

import datetime as dt
import html
import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .record import git_commit, jsonable

if TYPE_CHECKING:
    from .runner import NotebookResult

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
generated {dt.datetime.now().isoformat(timespec="seconds")} · Python {platform.python_version()}</p>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>headline metrics</th><th>files</th></tr>
{"".join(rows)}
</table></body></html>
"""
    index = target_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    summary = [{**asdict(r), "ok": r.ok} for r in results]
    (target_dir / "report.json").write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    return index
