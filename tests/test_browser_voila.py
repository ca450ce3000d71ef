"""The DAG widget in Voilà (a dashboard of a notebook's outputs, with a live kernel) in Debian's Chromium.

Voilà loads widget code as JupyterLab does (anywidget's prebuilt extension), keeps the kernel while the page
is open, and shows no notebook UI: the widget must render and its actions reach the kernel. Fixtures and
helpers come from ``test_browser.py``; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import sys

import pytest
import test_browser
from test_browser import CHROMIUM, _free_port, _write_notebook, node, serving, shot

from nbpipe.task import task_id_str

pytestmark = pytest.mark.slow

page = test_browser.page

VOILA_CELL = """%%pipeline
import logging

import nbpipe


class Extract(nbpipe.Task):
    day = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"voila/extract_{self.day}")

    def run(self):
        logging.getLogger("extract").warning("extracting day %d", self.day)
        with self.output().open("w") as f:
            f.write(str(self.day))


class Report(nbpipe.Task):
    def requires(self):
        return [Extract(1), Extract(2)]

    def output(self):
        return nbpipe.LocalTarget("voila/report")

    def run(self):
        with self.output().open("w") as f:
            f.write("report")
"""

EXTRACT_1 = task_id_str("Extract", {"day": "1"})
EXTRACT_2 = task_id_str("Extract", {"day": "2"})
REPORT = task_id_str("Report", {})


@pytest.fixture
def voila(tmp_path):
    """Voilà serving a notebook that shows (does not run) a 3-task pipeline; yields its URL and folder."""
    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (.ci/run installs it)"
    _write_notebook(tmp_path / "dashboard.ipynb", "%load_ext nbpipe", VOILA_CELL, "%pipeline show Report")
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "voila",
        "dashboard.ipynb",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
    ]
    base = f"http://127.0.0.1:{port}/"
    with serving(command, tmp_path, tmp_path / "voila.log", f"{base}voila/static/"):
        yield base, tmp_path


def test_the_dag_renders_in_voila_and_a_click_runs_a_task(voila, page):
    base, root = voila
    page.goto(base)
    dag = page.locator(".nbpipe-dag").first
    for task_id in (EXTRACT_1, EXTRACT_2, REPORT):
        dag.locator(f'g.node.nbpipe-state-not_built[id="{task_id}"]').wait_for(timeout=120_000)
    assert page.locator(".nbpipe-dag").count() == 1
    assert dag.locator(".nbpipe-graph").get_attribute("data-layout-engine") == "worker"
    shot(page, "70-voila-shown")

    # Click Extract(1), then Run in its panel: the kernel runs it (and only it) in the background.
    node(dag, EXTRACT_1).click()
    panel = dag.locator(".nbpipe-detail")
    panel.wait_for()
    assert EXTRACT_1 in panel.inner_text()
    panel.locator('button[data-action="run"]').click()
    dag.locator(f'g.node.nbpipe-state-ran[id="{EXTRACT_1}"]').wait_for(timeout=120_000)
    assert (root / "voila" / "extract_1").read_text() == "1"
    assert dag.locator(f'g.node.nbpipe-state-not_built[id="{REPORT}"]').count() == 1
    assert not (root / "voila" / "extract_2").exists()
    shot(page, "71-voila-ran-one-task")

    # Its panel, opened again, shows the log lines of the attempt that just ran (kept in the history).
    panel.locator(".nbpipe-detail-close").click()
    node(dag, EXTRACT_1).click()
    log = dag.locator(".nbpipe-detail .nbpipe-log-lines")
    log.wait_for(timeout=60_000)
    assert log.inner_text() == "WARNING extract: extracting day 1"
    assert dag.locator(".nbpipe-detail .nbpipe-log-title").inner_text().lower() == "log of the last attempt (done)"
    shot(page, "73-voila-log-of-the-last-attempt")

    # "Run all" from the toolbar: the rest runs; the report's output appears.
    dag.locator('.nbpipe-toolbar button[data-action="run_all"]').click()
    dag.locator(f'g.node.nbpipe-state-ran[id="{REPORT}"]').wait_for(timeout=120_000)
    assert (root / "voila" / "report").read_text() == "report"
    shot(page, "72-voila-run-all")
