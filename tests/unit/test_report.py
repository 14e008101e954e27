"""The report runner on small notebooks made in a temporary notebooks folder."""

import json

import nbformat
import pytest

from laserlab import report


def _notebook(path, parameters: str, *body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(src) for src in body)]
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    monkeypatch.setenv("LASERLAB_NOTEBOOKS_DIR", str(folder))
    monkeypatch.setenv("LASERLAB_REPORTS_DIR", str(tmp_path / "reports"))
    return folder


GOOD_BODY = (
    "from laserlab import report\nprov = report.provenance(globals(), notebook='a_good')",
    "prov.save_metrics({'answer': scale * 21, 'half': 0.5}, headline=['answer'])",
)


def test_parameters_are_read_from_the_tagged_cell(notebooks):
    _notebook(
        notebooks / "a.ipynb", "seed = 0\nscale: int = 2\nnames = ['x', 'y']\npath = None\nexpr = 2 * 3"
    )
    assert report.notebook_parameters(notebooks / "a.ipynb") == {
        "seed": 0,
        "scale": 2,
        "names": ["x", "y"],
        "path": None,
        "expr": "2 * 3",
    }


def test_parameters_cell_must_be_simple_assignments(notebooks):
    _notebook(notebooks / "a.ipynb", "import os\nseed = 0")
    with pytest.raises(ValueError, match="only simple assignments"):
        report.notebook_parameters(notebooks / "a.ipynb")


@pytest.mark.slow
def test_failing_notebook_is_reported_and_the_others_still_run(notebooks):
    _notebook(notebooks / "a_good.ipynb", "seed = 0\nscale = 1", *GOOD_BODY)
    _notebook(
        notebooks / "b_bad.ipynb", "seed = 0", "x = 1", "raise RuntimeError('deliberate failure')", "y = 2"
    )
    _notebook(notebooks / "c_after.ipynb", "seed = 0", "z = 3")
    (notebooks / "params" / "quick.yaml").write_text("a_good:\n  scale: 2\n")
    results = report.run_report("quick", echo=lambda *_: None)
    status = {r.name: r.status for r in results}
    assert status == {"a_good": "ok", "b_bad": "failed", "c_after": "ok"}
    bad = next(r for r in results if r.name == "b_bad")
    assert bad.error == "RuntimeError: deliberate failure"
    assert bad.failed_cell == "raise RuntimeError('deliberate failure')"
    good = next(r for r in results if r.name == "a_good")
    assert good.metrics == {"answer": 42, "half": 0.5} and good.headline == [
        "answer"
    ]  # profile value injected

    out = notebooks.parent / "reports" / "quick"
    index = (out / "index.html").read_text()
    assert "FAILED" in index and "deliberate failure" in index and "answer = 42" in index
    assert (out / "b_bad.html").is_file() and (out / "a_good.html").is_file()
    assert json.loads((out / "report.json").read_text())[1]["status"] == "failed"
    provenance = json.loads((out / "a_good" / "provenance.json").read_text())
    assert provenance["parameters"] == {"seed": 0, "scale": 2} and provenance["profile"] == "quick"

    from laserlab.cli import main

    assert main(["report", "--profile", "quick", "--only", "b_bad"]) == 1
    assert main(["report", "--profile", "quick", "--only", "c_after"]) == 0


@pytest.mark.slow
def test_timeout_marks_the_notebook_and_names_the_running_cell(notebooks):
    _notebook(notebooks / "slow.ipynb", "seed = 0", "import time\ntime.sleep(120)")
    (notebooks / "params" / "quick.yaml").write_text("{}\n")
    [result] = report.run_report("quick", timeout=15, echo=lambda *_: None)
    assert result.status == "timeout" and "timed out after 15 s" in result.error


def test_unknown_parameter_is_an_error(notebooks):
    _notebook(notebooks / "a.ipynb", "seed = 0\nsteps = 10")
    (notebooks / "params" / "quick.yaml").write_text("a:\n  step: 5\n")
    with pytest.raises(
        ValueError, match=r"unknown notebook parameter\(s\) \['step'\] for a.ipynb.*\['seed', 'steps'\]"
    ):
        report.run_report("quick")


def test_unknown_profile_section_and_notebook_are_errors(notebooks):
    _notebook(notebooks / "a.ipynb", "seed = 0")
    (notebooks / "params" / "quick.yaml").write_text("b: {}\n")
    with pytest.raises(ValueError, match=r"profile must be one of \['quick'\]"):
        report.run_report("nightly")
    with pytest.raises(ValueError, match=r"sections for unknown notebooks \['b'\]"):
        report.run_report("quick")
    (notebooks / "params" / "quick.yaml").write_text("{}\n")
    with pytest.raises(ValueError, match=r"only names unknown notebooks \['z'\]"):
        report.run_report("quick", only=["z"])


def test_cli_reports_bad_input_without_a_traceback(notebooks, capsys):
    from laserlab.cli import main

    assert main(["report", "--profile", "nightly"]) == 2
    assert "error: profile must be one of" in capsys.readouterr().err


def test_metrics_are_rounded_and_plain_json():
    import torch

    assert report.jsonable({"a": torch.tensor(1 / 3), "b": [float("inf")], "c": 2}, digits=6) == {
        "a": 0.333333,
        "b": ["inf"],
        "c": 2,
    }


def test_project_profiles_name_only_real_parameters():
    """Every section of every shipped profile matches its notebook's parameters cell."""
    notebooks = report.discover_notebooks()
    assert notebooks, "no notebooks found"
    for profile in report.profiles():
        assert set(report.load_profile(profile, notebooks)) == {p.stem for p in notebooks}


@pytest.mark.slow
def test_pages_show_real_warnings_but_not_library_chatter(notebooks):
    """Lightning's info lines and tips and the known deprecation notices stay out of the page, including one
    raised while the first cell imports (before ``provenance``); a real warning still reaches it."""
    chatter = (
        "import warnings\n"
        "warnings.warn_explicit('`torch.jit.script` is deprecated. Please switch.', FutureWarning, 'x.py', "
        "1, module='torch.jit._script')\n"
        "import lightning\n"
        "from laserlab import report\n"
        "prov = report.provenance(globals(), notebook='chatty')"
    )
    trainer = (
        "from lightning.pytorch.loggers import CSVLogger\n"
        "lightning.Trainer(accelerator='cpu', logger=CSVLogger(prov.output_dir), max_steps=1)\n"
        "warnings.warn_explicit('`isinstance(treespec, LeafSpec)` is deprecated, use this.', FutureWarning, "
        "'x.py', 1, module='lightning.pytorch.utilities._pytree')\n"
        "warnings.warn('a real problem worth seeing')"
    )
    _notebook(notebooks / "chatty.ipynb", "seed = 0", chatter, trainer)
    (notebooks / "params" / "quick.yaml").write_text("{}\n")
    [result] = report.run_report("quick", echo=lambda *_: None)
    assert result.ok, result.error
    out = notebooks.parent / "reports" / "quick"
    executed = nbformat.read(out / "chatty.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "UserWarning: a real problem worth seeing" in printed
    for noise in ("GPU available", "TPU available", "litlogger", "Tip", "FutureWarning"):
        assert noise not in printed, noise
    page = (out / "chatty.html").read_text()
    assert "UserWarning: a real problem worth seeing" in page and "GPU available" not in page


def test_table_aligns_the_first_column_left_and_the_others_right():
    text = report.table([["VQ", "1.5", 12], ["exact OMP", "10.25", 3]], ["method", "bpp", "n"])
    assert text.splitlines() == [
        "method       bpp   n",
        "---------  -----  --",
        "VQ           1.5  12",
        "exact OMP  10.25   3",
    ]
    with pytest.raises(ValueError, match=r"rows\[0\] must have one cell per header column \(2\); got 1"):
        report.table([["only one cell"]], ["a", "b"])
