"""Library chatter is silenced, real warnings are not."""

import logging
import os
import subprocess
import sys
import warnings

import pytest

from laserlab.quiet import KNOWN_WARNINGS, pythonwarnings, quiet_library_chatter


@pytest.fixture
def restore_logging_and_warnings():
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    with warnings.catch_warnings():
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _warn_from(module: str, message: str, category: type[Warning]) -> None:
    warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)


def test_known_notices_are_ignored_and_real_warnings_still_show(restore_logging_and_warnings):
    quiet_library_chatter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_chatter()  # after "always", as in a notebook that resets its filters first
        for known in KNOWN_WARNINGS:
            _warn_from(known.module, known.message + " And more.", known.category)
        warnings.warn("a real problem", UserWarning, stacklevel=1)
        # the same message from another module, and another message from the same module, still show
        _warn_from("my_project.code", KNOWN_WARNINGS[0].message, KNOWN_WARNINGS[0].category)
        _warn_from(KNOWN_WARNINGS[1].module, "something else is deprecated", FutureWarning)
    assert [str(w.message) for w in caught] == [
        "a real problem",
        KNOWN_WARNINGS[0].message,
        "something else is deprecated",
    ]


@pytest.mark.slow
def test_lightning_trainer_prints_no_chatter_but_its_warnings_show(
    restore_logging_and_warnings, capfd, tmp_path
):
    lightning = pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.utilities.rank_zero import rank_zero_warn

    quiet_library_chatter()
    lightning.Trainer(accelerator="cpu", logger=CSVLogger(tmp_path), enable_progress_bar=False, max_steps=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rank_zero_warn("a real Lightning warning")
    err = capfd.readouterr().err
    assert "GPU available" not in err and "TPU available" not in err and "Tip" not in err
    assert [str(w.message) for w in caught] == ["a real Lightning warning"]


def test_pythonwarnings_filters_a_child_interpreter_from_its_start():
    program = "\n".join(
        [
            "import warnings",
            *(
                f"warnings.warn_explicit({k.message + ' More.'!r}, {k.category.__name__}, 'x.py', 1, "
                f"module={k.module!r})"
                for k in KNOWN_WARNINGS
            ),
            "warnings.warn('a real problem')",
        ]
    )
    env = {**os.environ, "PYTHONWARNINGS": pythonwarnings("default::DeprecationWarning")}
    assert env["PYTHONWARNINGS"].startswith("default::DeprecationWarning,ignore:")
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    assert "a real problem" in result.stderr
    assert not any(k.message in result.stderr for k in KNOWN_WARNINGS), result.stderr
