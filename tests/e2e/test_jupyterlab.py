"""End to end: the course in a real JupyterLab, driven in headless Chromium.

Starts `jupyter lab` from the project's environment on a free localhost port
with a random token, opens notebooks through Playwright (Debian's chromium, no
browser download), runs all their cells in the smoke profile and looks at what
a learner would see. Screenshots go to build/e2e/. The server is always stopped.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from utils.config import REPO_ROOT

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "build" / "e2e"
LAUNCH_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_SECONDS = 90
NOTEBOOK_SECONDS = 300

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.fail(
        f"Chromium not found at {CHROMIUM}: run `make e2e` (it installs Debian's "
        f"chromium as root) or set COURSE_CHROMIUM.",
        pytrace=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notebook_bytes() -> dict:
    return {
        path: path.read_bytes()
        for folder in ("notebooks", "solutions", "labs")
        for path in (REPO_ROOT / folder).glob("*.ipynb")
    }


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A running JupyterLab server: yields (base_url, token); always stopped."""
    port, token = free_port(), secrets.token_hex(16)
    workdir = tmp_path_factory.mktemp("jupyter")
    env = {
        **os.environ,
        "COURSE_PROFILE": "smoke",
        "COURSE_RESULTS_DIR": str(workdir / "results"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    # No news pop-ups over the screenshots; every cell in the page, not only
    # those in view (JupyterLab leaves cells out of view out of the page).
    settings = workdir / "settings" / "@jupyterlab"
    for extension, name, value in (
        ("apputils-extension", "notification", '{"fetchNews": "false"}'),
        ("notebook-extension", "tracker", '{"windowingMode": "none"}'),
        # Running a notebook must not write it back into the repository.
        ("docmanager-extension", "plugin", '{"autosave": false}'),
    ):
        (settings / extension).mkdir(parents=True, exist_ok=True)
        (settings / extension / f"{name}.jupyterlab-settings").write_text(value)
    log = open(workdir / "server.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={REPO_ROOT}",
            "--ServerApp.disable_check_xsrf=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    notebooks_before = notebook_bytes()
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(
                    f"{base_url}/api/status?token={token}", timeout=2
                ):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (workdir / "server.log").read_text()
                    )
                time.sleep(0.5)
        yield base_url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    changed = [
        path
        for path, data in notebook_bytes().items()
        if notebooks_before.get(path) != data
    ]
    assert not changed, f"the browser session changed committed notebooks: {changed}"


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Step:
    """Names the step and saves a screenshot when it fails."""

    def __init__(self, page, name: str):
        self.page, self.name = page, name

    def fail(self, message: str):
        path = self.screenshot(f"{self.name}-failed")
        pytest.fail(f"{self.name}: {message} (screenshot: {path})", pytrace=False)

    def screenshot(self, name: str, focus=None) -> Path:
        """Save a screenshot, scrolled so that ``focus`` (a locator) is in view."""
        if focus is not None and focus.count():
            focus.first.evaluate("element => element.scrollIntoView({block: 'start'})")
            time.sleep(0.5)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def open_and_run_all(browser, jupyterlab, notebook: str, name: str):
    """Open a notebook, run all cells, wait for every cell to finish."""
    base_url, token = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    step = Step(page, name)
    page.set_default_timeout(60_000)
    # A workspace of its own, reset, so that only this notebook is open.
    page.goto(f"{base_url}/lab/workspaces/{name}/tree/{notebook}?reset&token={token}")
    try:
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
        )
    except playwright_api.TimeoutError:
        step.fail(f"{notebook} did not open with an idle kernel")
    if not kernel_is_idle(base_url, token, notebook):
        step.fail(f"the kernel of {notebook} did not start")
    # Run all; if no cell starts (the page was not ready), ask again.
    for _attempt in range(3):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        if started_running(page):
            break
    else:
        step.fail(f"Run All did not start any cell of {notebook}")
    deadline = time.monotonic() + NOTEBOOK_SECONDS
    # Every code cell's prompt ends as [n]; [*] means queued or running.
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if prompts and all(re.search(r"\[\d+\]", text) for text in prompts):
            break
        time.sleep(1)
    else:
        step.fail(f"{notebook} did not finish running within {NOTEBOOK_SECONDS} s")
    return page, step


def kernel_is_idle(
    base_url: str, token: str, notebook: str, seconds: int = 120
) -> bool:
    """Ask the server until this notebook's session has an idle kernel."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base_url}/api/sessions?token={token}") as reply:
            sessions = json.load(reply)
        for session in sessions:
            if session.get("path") == notebook:
                if session["kernel"]["execution_state"] == "idle":
                    return True
        time.sleep(1)
    return False


def started_running(page, seconds: int = 20) -> bool:
    """True once any code cell is queued, running or done ([*] or [n])."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if any(re.search(r"\[(\*|\d+)\]", text) for text in prompts):
            return True
        time.sleep(0.5)
    return False


def output_text(page) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())


def test_lab_shows_friendly_not_done_yet_feedback(browser, jupyterlab):
    page, step = open_and_run_all(
        browser, jupyterlab, "labs/00_baseline_lab.ipynb", "lab"
    )
    text = output_text(page)
    step.screenshot("lab", focus=page.get_by_text("✗ Exercise 1"))
    if "✗ Exercise 1 — not done yet" not in text:
        step.fail("no friendly 'not done yet' feedback for exercise 1")
    # Any exception named on the page other than the stub's is a raw traceback.
    raised = set(re.findall(r"\b(\w+(?:Error|Exception))\b", text))
    if raised - {"NotImplementedError"}:
        step.fail(f"an error other than the stub's is on the page: {sorted(raised)}")
    page.close()


def test_solution_gets_a_tick_for_every_exercise(browser, jupyterlab):
    page, step = open_and_run_all(
        browser, jupyterlab, "solutions/00_baseline_lab.ipynb", "solution"
    )
    text = output_text(page)
    step.screenshot("solution", focus=page.get_by_text("✓ Exercise 2"))
    missing = [n for n in range(1, 5) if f"✓ Exercise {n}:" not in text]
    if missing:
        step.fail(f"no ✓ for exercise(s) {missing}")
    page.close()


def test_lecture_renders_its_figures(browser, jupyterlab):
    page, step = open_and_run_all(
        browser, jupyterlab, "notebooks/00_baseline.ipynb", "lecture"
    )
    images = page.locator(".jp-OutputArea-output img")
    curves = page.locator(".jp-Cell", has_text="Train in the overfitting regime")
    step.screenshot("lecture", focus=curves)
    if images.count() == 0:
        step.fail("no rendered figure (img) in any output area")
    if "Profile 'smoke'" not in output_text(page):
        step.fail("the setup cell did not print the smoke profile")
    page.close()
