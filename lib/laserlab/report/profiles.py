"""Parameter profiles: the names a notebook's ``parameters`` cell defines and the values a profile sets.

A profile is ``notebooks/params/<profile>.yaml``, one section per notebook (its name without
``.ipynb``) mapping parameter names to values; a section or name that does not exist is an error.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from .. import paths
from ..checks import check_choice


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
    check_choice(profile, "profile", profiles())
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
