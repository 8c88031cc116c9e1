"""A JupyterLab server and Debian's chromium, started by the tests themselves (`make test-browser`).

The server runs on 127.0.0.1 with no token, on a free port, over a temporary copy of the
notebooks (JupyterLab saves what it runs, and the committed notebooks must stay as they are),
with XMLLIB_NOTEBOOK_SMOKE set so that the notebooks train smoke-sized. Playwright drives the
system's chromium (`executable_path`): no browser is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    # every cell in the page, so that the widgets of a cell far down can be found and driven
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
#: a ceiling against a server that hangs: the wait ends as soon as JupyterLab answers or exits
STARTUP_SECONDS = 1200
#: the same kind of ceiling for every page action and `expect` (Playwright's defaults are 30 s and 5 s,
#: which a slow or loaded machine can miss): each ends as soon as its event comes
EVENT_SECONDS = 600
expect.set_options(timeout=EVENT_SECONDS * 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Iterator[str]:
    """The address of a JupyterLab server over a copy of notebooks/; stopped, with its kernels, afterwards."""
    folder = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", folder / "notebooks", ignore=shutil.ignore_patterns("cache"))
    for name, values in SETTINGS.items():
        (folder / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "settings" / name).write_text(json.dumps(values))
    port = free_port()
    environment = {**os.environ, "XMLLIB_NOTEBOOK_SMOKE": "1", "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
                   "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={folder / 'notebooks'}"],
        env=environment, stdout=(folder / "server.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(address, server, folder / "server.log")
        yield address
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_for_server(address: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{address}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, without its sandbox (the tests run as root)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(EVENT_SECONDS * 1000)
    page = context.new_page()
    yield page
    context.close()
