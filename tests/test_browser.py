"""The DAG widget in a real JupyterLab (and Notebook 7) in Debian's Chromium, driven by Playwright.

Screenshots of every step are written to ``test-artifacts/`` (or
``$NBPIPE_ARTIFACTS``) so a person can look at them.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
#: The notebook on screen; tests that count cells or widgets open theirs with `?reset` (JupyterLab would
#: otherwise restore the tabs of earlier tests, whose hidden cells and widgets match too).
SHOWN_NOTEBOOK = ".jp-NotebookPanel"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: list[str], folder: Path, log_path: Path, ready_url: str) -> Iterator[subprocess.Popen]:
    """Run a web server (``command``, in ``folder``, state directory ``folder/.nbpipe``) until the block ends.

    Waits until ``ready_url`` answers (any HTTP status is an answer); fails with the server's log if the
    server ends or does not answer within 120 s.
    """
    env = dict(os.environ, NBPIPE_STATE_DIR=str(folder / ".nbpipe"))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the server to answer (a readiness poll)
            try:
                urllib.request.urlopen(ready_url, timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (a 404 is an answer)
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    command = [
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
    ]
    base = f"http://127.0.0.1:{port}"
    with serving(command, root, root / "server.log", f"{base}/api/status?token={TOKEN}"):
        yield base, root


@pytest.fixture
def page(request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        # How the page looked when the test ended (passed or not): the first thing to read after a failure.
        page.screenshot(path=str(ARTIFACTS / f"last-{request.node.name}.png"))
        # The page's own errors, for whoever reads a failure (they do not fail a test by themselves).
        (ARTIFACTS / "browser-errors.log").write_text("\n".join(errors))
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


LIVE_CELL = '''%%pipeline
import os
import time

import nbpipe


class Slow(nbpipe.Task):
    """Runs until the browser test has seen it running and writes `release`."""

    def output(self):
        return nbpipe.LocalTarget("live/slow")

    def run(self):
        while not os.path.exists("release"):
            time.sleep(0.05)
        with self.output().open("w") as f:
            f.write("slow")


class Quick(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("live/quick")

    def run(self):
        with self.output().open("w") as f:
            f.write("quick")


class Fetch(nbpipe.Task):
    station = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(f"live/fetch_{self.station}")

    def run(self):
        raise ValueError(f"station {self.station} did not answer: the connection was refused by the remote host")


class Summary(nbpipe.WrapperTask):
    def requires(self):
        return Fetch("north")


class Live(nbpipe.WrapperTask):
    def requires(self):
        return [Slow(), Quick(), Summary()]
'''

SLOW, QUICK = task_id_str("Slow", {}), task_id_str("Quick", {})
FETCH, SUMMARY, LIVE = task_id_str("Fetch", {"station": "north"}), task_id_str("Summary", {}), task_id_str("Live", {})


def _write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _state(widget, task_id: str, state: str):
    return widget.locator(f'g.node.nbpipe-state-{state}[id="{task_id}"]')


def test_live_states_while_a_long_task_runs_in_jupyterlab(server, page):
    """A background run: the long task shows running WHILE it runs, the others change as they end, each
    node says why it is not done, the widget is shown once, and an action recolours only what it changed."""
    base, root = server
    _write_notebook(root / "live.ipynb", "%load_ext nbpipe", LIVE_CELL, "%pipeline run Live --workers 3 --background")
    (root / "release").unlink(missing_ok=True)
    page.goto(f"{base}/lab/tree/live.ipynb?reset&token={TOKEN}")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
    _run_cells_one_by_one(page, 3)
    dag = page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-dag").first
    # While Slow runs (it cannot end before the test writes `release`), the rest of the run reaches the page.
    _state(dag, SLOW, "running").wait_for(timeout=120_000)
    _state(dag, QUICK, "ran").wait_for(timeout=60_000)
    _state(dag, FETCH, "failed").wait_for(timeout=60_000)
    _state(dag, SUMMARY, "upstream_failed").wait_for(timeout=60_000)
    assert _state(dag, SLOW, "running").count() == 1  # still running: nothing was held back until the end
    assert page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-dag").count() == 1  # shown once, not display_data + execute_result
    assert "upstream Fetch(station=north) failed" in (node(dag, SUMMARY).locator("title").first.text_content() or "")
    node(dag, FETCH).click()
    panel = dag.locator(".nbpipe-detail")
    panel.locator("pre.nbpipe-error").wait_for()
    assert "did not answer" in panel.inner_text()  # the error arrived when the task ended, mid-run
    # The error wraps at spaces: every line of the block ends at a word's end.
    error_css = panel.locator("pre.nbpipe-error").evaluate(
        "e => [getComputedStyle(e).whiteSpace, getComputedStyle(e).wordBreak, getComputedStyle(e).fontFamily]"
    )
    assert error_css[:2] == ["pre-wrap", "normal"] and "mono" in error_css[2].lower(), error_css
    tb = panel.locator("pre.nbpipe-traceback").inner_text()
    assert "Cell In[2], line " in tb and "<dynamic-code>" not in tb, tb
    shot(page, "20-live-failed-detail-mid-run")
    node(dag, SLOW).click()
    panel.locator("text=running since").wait_for()
    shot(page, "21-live-slow-running")

    (root / "release").touch()
    _state(dag, SLOW, "ran").wait_for(timeout=60_000)
    _state(dag, LIVE, "upstream_failed").wait_for(timeout=60_000)
    dag.locator(".nbpipe-running-badge[hidden]").wait_for(state="attached", timeout=60_000)
    assert (
        page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-dag").count() == 1
    )  # the end-of-run update replaced the output, added none
    dag = page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-dag").first
    node(dag, SLOW).click()
    panel = dag.locator(".nbpipe-detail")
    panel.wait_for()
    assert "Last duration" in panel.inner_text() and "running since" not in panel.inner_text()
    node(dag, LIVE).click()
    panel.locator("text=upstream Fetch(station=north) failed").wait_for()
    shot(page, "22-live-run-ended")

    # Invalidate downstream of Quick: Quick and Live change; Slow keeps "ran", Fetch keeps "failed".
    node(dag, QUICK).click()
    panel.locator('button[data-action="invalidate_downstream"]').click()
    _state(dag, QUICK, "invalidated").wait_for(timeout=60_000)
    _state(dag, LIVE, "invalidated").wait_for(timeout=60_000)
    assert _state(dag, SLOW, "ran").count() == 1
    assert _state(dag, FETCH, "failed").count() == 1
    shot(page, "23-live-invalidated-one-branch")

    # The box follows the graph's height (5 nodes leave no big empty box); Fit shows the whole graph.
    box_height = dag.locator(".nbpipe-graph").evaluate("e => e.clientHeight")
    svg_height = dag.locator(".nbpipe-graph svg").evaluate("e => e.getBoundingClientRect().height")
    assert box_height <= svg_height + 40, (box_height, svg_height)
    node(dag, LIVE).click()
    dag.locator('.nbpipe-zoom[title="Show the whole graph"]').click()
    assert dag.locator(".nbpipe-detail").is_visible()
    selected = node(dag, LIVE).bounding_box()
    graph_box = dag.locator(".nbpipe-graph").bounding_box()
    assert selected and graph_box and selected["x"] + selected["width"] <= graph_box["x"] + graph_box["width"]
    shot(page, "24-live-fit-selected")


EXPORT_CELL = LIVE_CELL.replace('        while not os.path.exists("release"):\n            time.sleep(0.05)\n', "")


def test_html_export_of_an_executed_notebook_shows_the_dag_as_it_ended(tmp_path, page):
    """`nbpipe execute` (the CI report) then `jupyter nbconvert --to html`: the page draws the graph as
    the run ended (inline SVG coloured by final state, reasons in the tooltips), with no widget code."""
    env = dict(os.environ, NBPIPE_STATE_DIR=str(tmp_path / ".nbpipe"))
    _write_notebook(tmp_path / "report.ipynb", "%load_ext nbpipe", EXPORT_CELL, "%pipeline run Live --workers 2")
    run = subprocess.run(
        [sys.executable, "-m", "nbpipe", "execute", "report.ipynb", "--output", "report.executed.ipynb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (tmp_path / "report.executed.ipynb").exists(), run.stdout + run.stderr
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "report.executed.ipynb"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    page.goto((tmp_path / "report.executed.html").as_uri())
    svg = page.locator("svg.nbpipe-static-svg")
    svg.wait_for()
    final = {SLOW: "ran", QUICK: "ran", FETCH: "failed", SUMMARY: "upstream_failed", LIVE: "upstream_failed"}
    for task_id, state in final.items():
        group = svg.locator(f'g.nbpipe-static-node[data-task-id="{task_id}"]')
        assert f"nbpipe-state-{state}" in (group.get_attribute("class") or ""), task_id
    tip = svg.locator(f'g[data-task-id="{SUMMARY}"] title').text_content() or ""
    assert "upstream Fetch(station=north) failed" in tip
    svg.scroll_into_view_if_needed()
    shot(page, "30-html-export-final-dag")


CHAIN_CELL = """%%pipeline
import nbpipe

FAMILIES = []
for k in range(11):
    def requires(self, k=k):
        return [FAMILIES[k - 1](i=j) for j in range(2)] if k else []

    FAMILIES.append(
        type(f"StageNumber{k:02d}", (nbpipe.Task,), {"i": nbpipe.IntParameter(), "requires": requires,
             "complete": lambda self: False, "__module__": __name__})
    )
    globals()[f"StageNumber{k:02d}"] = FAMILIES[-1]


class Chain(nbpipe.WrapperTask):
    def requires(self):
        return [FAMILIES[-1](i=0)]
"""


def _run_cells_one_by_one(page, count: int) -> None:
    """Shift+Enter each cell and wait for its prompt to get its number ("Run All" skips a cell the kernel
    was not ready for, see docs NOTES-frontend)."""
    cells = page.locator(f"{SHOWN_NOTEBOOK} .jp-CodeCell")
    for i in range(count):
        prompt = cells.nth(i).locator(".jp-InputPrompt")
        for _attempt in range(3):
            cells.nth(i).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            try:
                page.wait_for_function(
                    "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=60_000
                )
                break
            except playwright.Error:
                continue


def test_a_wide_graph_fits_and_reads_well_in_notebook7(server, page):
    """Notebook 7: an 11-family chain is zoomed out towards the box's width; collapsed by family it fits;
    the box is only as tall as the graph; unticking Collapse clears the "shown collapsed" notice."""
    base, root = server
    _write_notebook(root / "chain.ipynb", "%load_ext nbpipe", CHAIN_CELL, "%pipeline show Chain")
    page.goto(f"{base}/notebooks/chain.ipynb?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_selector("[data-status='idle']", timeout=120_000)
    _run_cells_one_by_one(page, 3)
    dag = page.locator(".nbpipe-dag").first
    dag.locator("g.node").nth(21).wait_for(state="attached", timeout=120_000)
    assert page.locator(".nbpipe-dag").count() == 1

    def fits() -> bool:
        svg = dag.locator(".nbpipe-graph svg").bounding_box()
        box = dag.locator(".nbpipe-graph").bounding_box()
        return bool(svg and box and svg["x"] + svg["width"] <= box["x"] + box["width"] + 1)

    shot(page, "40-nb7-chain-fitted")
    # Every task: zoomed out towards the box's width, but not below a readable 45 % (then it scrolls).
    scale = dag.locator(".nbpipe-graph svg").evaluate(
        "e => e.getBoundingClientRect().width / (e.viewBox.baseVal.width * 4 / 3)"
    )
    assert 0.44 <= scale < 0.99, scale
    dag.locator("label.nbpipe-toggle", has_text="Collapse by family").locator("input").check()
    dag.locator("g.node").nth(10).wait_for()
    assert dag.locator("g.node").count() == 12  # 11 families and Chain
    assert fits()
    box_height = dag.locator(".nbpipe-graph").evaluate("e => e.clientHeight")
    svg_height = dag.locator(".nbpipe-graph svg").evaluate("e => e.getBoundingClientRect().height")
    assert box_height <= svg_height + 40, (box_height, svg_height)
    shot(page, "41-nb7-chain-collapsed")
    dag.locator("label.nbpipe-toggle", has_text="Collapse by family").locator("input").uncheck()
    dag.locator("g.node").nth(21).wait_for()
    assert not dag.locator(".nbpipe-message").is_visible()
