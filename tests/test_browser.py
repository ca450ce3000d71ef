"""The DAG widget in a real JupyterLab (and Notebook 7) in Debian's Chromium, driven by Playwright.

Screenshots of every step are written to ``test-artifacts/`` (or
``$NBPIPE_ARTIFACTS``) so a person can look at them.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from nbpipe.task import task_id_str

pytestmark = pytest.mark.slow  # every test here starts processes, kernels or a browser

playwright = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("NBPIPE_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "nbpipe-browser-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Jupyter server on 127.0.0.1 serving a copy of example_notebooks/."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    root = tmp_path_factory.mktemp("notebooks")
    # The quickstart's failure demo (its last cell) fails only with `strict = True`
    # in its `parameters` cell; these tests need that red Validate node.
    quickstart = nbformat.read(REPO / "example_notebooks" / "quickstart.ipynb", as_version=4)
    parameters = next(c for c in quickstart.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = "strict = True"
    nbformat.write(quickstart, root / "quickstart.ipynb")
    port = _free_port()
    log = open(root / "server.log", "w")
    env = dict(os.environ, NBPIPE_STATE_DIR=str(root / ".nbpipe"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            "--allow-root",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # wait for the server to answer (a readiness poll)
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (root / "server.log").read_text()
            time.sleep(0.2)
    try:
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def page():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def node(widget, task_id: str):
    return widget.locator(f'g.node[id="{task_id}"]')


DOWNLOAD_1 = task_id_str("Download", {"station": "1"})
CLEAN_1 = task_id_str("Clean", {"station": "1"})
DOWNLOAD_2 = task_id_str("Download", {"station": "2"})
REPORT = task_id_str("Report", {"stations": "3"})
VALIDATE = task_id_str("Validate", {"strict": "True"})


def test_quickstart_in_jupyterlab(server, page):
    base, root = server
    page.goto(f"{base}/lab/tree/quickstart.ipynb?token={TOKEN}")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
    page.click("li.lm-MenuBar-item >> text=Run")
    page.click("li.lm-Menu-item >> text=Run All Cells")
    dags = page.locator(".nbpipe-dag")
    # The first run's graph: every task ran.
    first = dags.nth(0)
    first.locator("g.node.nbpipe-state-ran").nth(6).wait_for(timeout=120_000)
    assert first.locator("g.node").count() == 7
    # The failing run's graph (the last cell, the fourth %pipeline run): Validate failed, the rest was complete.
    last = dags.nth(3)
    last.locator(f'g.node.nbpipe-state-failed[id="{VALIDATE}"]').wait_for(timeout=120_000)
    shot(page, "01-ran")

    # Click a node of the first graph, then "Invalidate downstream".
    first.scroll_into_view_if_needed()
    node(first, DOWNLOAD_1).click()
    panel = first.locator(".nbpipe-detail")
    panel.wait_for()
    assert DOWNLOAD_1 in panel.inner_text()
    shot(page, "02-detail-panel")
    panel.locator('button[data-action="invalidate_downstream"]').click()
    for task_id in (DOWNLOAD_1, CLEAN_1, REPORT):
        first.locator(f'g.node.nbpipe-state-invalidated[id="{task_id}"]').wait_for(timeout=60_000)
    assert "nbpipe-state-invalidated" not in (node(first, DOWNLOAD_2).get_attribute("class") or "")
    assert (root / "quickstart" / "raw_1.json").exists()  # invalidation deletes nothing
    shot(page, "03-invalidated")

    # Run the report: it and the invalidated tasks it needs run again and end done.
    node(first, REPORT).click()
    panel.locator('button[data-action="run"]').click()
    for task_id in (DOWNLOAD_1, CLEAN_1, REPORT):
        first.locator(f'g.node.nbpipe-state-ran[id="{task_id}"]').wait_for(timeout=120_000)
    assert first.locator("g.node.nbpipe-state-invalidated").count() == 0
    shot(page, "04-rerun-done")

    # The failed task's detail panel shows its error.
    last.scroll_into_view_if_needed()
    node(last, VALIDATE).click()
    detail = last.locator(".nbpipe-detail")
    detail.wait_for()
    assert "ValueError: station 2 has fewer than 25 readings" in detail.inner_text()
    shot(page, "05-failed-detail")


def test_notebook7_smoke(server, page):
    base, _ = server
    page.goto(f"{base}/notebooks/quickstart.ipynb?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_selector("[data-status='idle']", timeout=120_000)
    page.click("li.lm-MenuBar-item >> text=Run")
    page.click("li.lm-Menu-item >> text=Run All Cells")
    page.locator(".nbpipe-dag g.node").first.wait_for(timeout=120_000)
    assert page.locator(".nbpipe-dag").first.locator("g.node").count() == 7
    shot(page, "10-notebook7")
