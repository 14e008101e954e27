"""The widgets in a real browser: JupyterLab on 127.0.0.1, driven in Debian's Chromium through Playwright.

For notebooks 05 (sigma explorer) and 06 (sparsity explorer): open the notebook, run all cells, move a
slider with the keyboard, wait for the kernel to go idle, and check that the explorer's figure changed
(element screenshots, saved under pytest's tmp dir) and its readout too.

Needs ``chromium`` on the PATH (or /usr/bin/chromium) and pip ``playwright`` (its bundled driver only; no
browser download). Without them the test skips, unless ``LASERLAB_REQUIRE_BROWSER=1`` (set by .ci/run),
when it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Smaller runs than the quick profile: this test is about the widgets in the browser, the notebooks' results
# are checked by nbval. Injected after the parameters cell, as papermill does.
NOTEBOOKS = {
    "05_sigma_maps.ipynb": {
        "short_side": 80, "image_size": 64, "texture_box": [8, 8, 56, 56], "sigma_steps": 3,
        "vgg_num_scales": 1,
    },
    "06_codebook_explorer.ipynb": {
        "train_images": 16, "patch_sizes": [2, 4], "vq_steps": 4, "ksvd_iterations": 2, "max_tokens": 1000,
        "test_size": 64, "embedding_methods": ["pca"],
    },
}  # fmt: skip
SERVER_START_S = 90
RUN_ALL_S = 240
REDRAW_S = 60
PROMPTS = ".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium() -> str:
    """Path of Debian's chromium, or skip (fail under LASERLAB_REQUIRE_BROWSER=1) with the reason."""
    missing = []
    executable = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if executable is None:
        missing.append("chromium is not installed (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install playwright)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("LASERLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LASERLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_with_parameters(source: Path, target: Path, parameters: dict) -> None:
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    position = next(
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    )
    assignments = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(
        f"# Parameters\n{assignments}", metadata={"tags": ["injected-parameters"]}
    )
    notebook.cells.insert(position + 1, cell)
    nbformat.write(notebook, target)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving copies of the notebooks; yields (base url, token)."""
    _chromium()
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    for name, parameters in NOTEBOOKS.items():
        _copy_with_parameters(ROOT / "notebooks" / name, root / name, parameters)
    # The news/update toast would cover the page; user settings live in the server's own settings dir.
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        # the kernel imports this checkout's library
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "lib"), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
        "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited with {server.returncode}:\n{(home / 'server.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s")
            time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=_chromium(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def _wait_idle(page, timeout_s: float) -> None:
    """Kernel connected and idle: the status bar reads '| Idle' (the execution-indicator attribute reports
    idle before the kernel is connected)."""
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=timeout_s * 1000)


def _wait_all_ran(page, timeout_s: float, shots: Path, name: str) -> None:
    """Every code cell of the notebook has an execution count and none is queued or running ([*])."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """(selector) => {
                const prompts = [...document.querySelectorAll(selector)];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            arg=PROMPTS,
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(shots / f"{name}-timeout.png"))
        prompts = page.locator(PROMPTS).all_inner_texts()
        pytest.fail(f"{name}: cells did not all run within {timeout_s} s; prompts {prompts}")


def _open_and_run(page, base: str, token: str, notebook: str, shots: Path) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # a workspace of its own, reset, so the page holds this notebook only
    workspace = notebook.split("_")[0]
    page.goto(f"{base}/lab/workspaces/nb{workspace}/tree/{notebook}?reset&token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    _wait_idle(page, 60)
    page.locator("li.lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    _wait_all_ran(page, RUN_ALL_S, shots, notebook)
    _wait_idle(page, RUN_ALL_S)
    failures = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Error"
    )
    if failures.count():
        pytest.fail(f"{notebook} raised: {failures.first.inner_text()[:2000]}")
    return errors


def _slider(page, label: str):
    return page.locator(".widget-slider", has=page.locator("label", has_text=label)).first


def _move_and_compare(page, explorer, slider, steps: int, shots: Path, name: str) -> tuple[bytes, bytes]:
    """Press ArrowRight ``steps`` times on the slider handle; wait for the readout, then for idle; return
    the explorer picture's screenshots before and after (also saved as PNG files)."""
    picture = explorer.locator("img.widget-image").first
    picture.scroll_into_view_if_needed()
    readout = slider.locator(".widget-readout")
    start = readout.inner_text()
    before = picture.screenshot(path=str(shots / f"{name}-before.png"))
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(steps):
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, start]) => el.textContent.trim() !== start.trim()",
        arg=[readout.element_handle(), start],
        timeout=REDRAW_S * 1000,
    )
    _wait_idle(page, REDRAW_S)
    page.wait_for_timeout(500)  # the image widget swaps its blob URL after the kernel's message
    after = picture.screenshot(path=str(shots / f"{name}-after.png"))
    return before, after


def test_sigma_and_sparsity_sliders_redraw_in_jupyterlab(lab, browser, tmp_path):
    base, token = lab
    started = time.monotonic()
    page = browser.new_page()

    errors = _open_and_run(page, base, token, "05_sigma_maps.ipynb", tmp_path)
    explorer = page.locator(".widget-vbox", has=page.locator("label", has_text="log2 σ")).first
    explorer.locator("button", has_text="constant").first.click()  # the notebook starts foveated
    _wait_idle(page, REDRAW_S)
    level = _slider(page, "log2 σ")
    before, after = _move_and_compare(page, explorer, level, 4, tmp_path, "05-sigma")
    assert before != after, "moving the log2 σ slider did not change the sigma explorer's figure"
    assert level.locator(".widget-readout").inner_text().strip() not in ("", "2.00")
    page.close()

    page = browser.new_page()
    errors += _open_and_run(page, base, token, "06_codebook_explorer.ipynb", tmp_path)
    explorer = page.locator(".widget-vbox", has=page.locator("label", has_text="sparsity S")).first
    rate = explorer.locator(".widget-html").first.inner_text()
    slider = _slider(page, "sparsity S")
    before, after = _move_and_compare(page, explorer, slider, 3, tmp_path, "06-sparsity")
    assert before != after, "moving the sparsity slider did not change the sparsity explorer's figure"
    assert explorer.locator(".widget-html").first.inner_text() != rate
    page.screenshot(path=str(tmp_path / "06-page.png"), full_page=False)
    page.close()

    assert not errors, f"page errors: {errors}"
    print(f"browser test: {time.monotonic() - started:.1f} s after server start; screenshots in {tmp_path}")
