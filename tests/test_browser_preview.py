"""Look, don't read (issue 14): an output previewed from the DAG widget's detail panel, and the run's
timeline in its summary, in a real JupyterLab in Debian's Chromium.

The fixtures and helpers are those of ``test_browser.py``; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import pytest
import test_browser
from test_browser import SHOWN_NOTEBOOK, TOKEN, _run_cells_one_by_one, _write_notebook, node, shot

from nbpipe.task import task_id_str

pytestmark = pytest.mark.slow

# The browser and the JupyterLab server of test_browser.py (a server of its own for this module).
server = test_browser.server
page = test_browser.page

PREVIEW_CELL = """%%pipeline
import nbpipe


class Cities(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("preview/cities.csv")

    def run(self):
        with self.output().open("w") as f:
            f.write("city,population\\nOslo,709037\\nBergen,291940\\nTrondheim,212660\\n")


class Notes(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("preview/notes.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("first note\\nsecond note\\n")


class Atlas(nbpipe.Task):
    def requires(self):
        return [Cities(), Notes()]

    def output(self):
        return nbpipe.LocalTarget("preview/atlas.json")

    def run(self):
        with self.output().open("w") as f:
            f.write('{"cities": 3}')
"""

CITIES = task_id_str("Cities", {})


def test_preview_of_a_csv_output_and_the_timeline_of_the_run(server, page):
    base, root = server
    _write_notebook(root / "preview.ipynb", "%load_ext nbpipe", PREVIEW_CELL, "%pipeline run Atlas --workers 2")
    page.goto(f"{base}/lab/tree/preview.ipynb?reset&token={TOKEN}")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
    _run_cells_one_by_one(page, 3)

    # The summary of the 3-task run carries its timeline: 3 bars, one per task, all "ran".
    timeline = page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-summary .nbpipe-timeline").first
    timeline.wait_for(timeout=120_000)
    assert timeline.locator("rect.nbpipe-bar").count() == 3
    assert timeline.locator('rect.nbpipe-bar[data-state="ran"]').count() == 3
    tips = timeline.locator("rect.nbpipe-bar title").all_text_contents()
    assert any(t.startswith("Cities(): ") and ", ran (on " in t for t in tips), tips  # task, duration, state
    timeline.scroll_into_view_if_needed()
    timeline.screenshot(path=str(test_browser.ARTIFACTS / "31-timeline.png"))

    dag = page.locator(f"{SHOWN_NOTEBOOK} .nbpipe-dag").first
    dag.locator(f'g.node.nbpipe-state-ran[id="{CITIES}"]').wait_for(timeout=60_000)
    node(dag, CITIES).click()
    panel = dag.locator(".nbpipe-detail")
    output = panel.locator("li.nbpipe-output").first
    # Where the output is, its size and when it was modified arrive from the kernel.
    output.locator(".nbpipe-output-meta", has_text="modified").wait_for(timeout=60_000)
    assert "preview/cities.csv" in output.inner_text()
    assert "B, modified" in output.locator(".nbpipe-output-meta").inner_text()
    output.locator("button.nbpipe-preview-button").click()
    table = output.locator("table.nbpipe-preview-table")
    table.wait_for(timeout=60_000)
    assert table.locator("thead th").all_text_contents() == ["city", "population"]
    assert table.locator("tbody tr").first.locator("td").all_text_contents() == ["Oslo", "709037"]
    assert table.locator("tbody tr").count() == 3
    output.scroll_into_view_if_needed()
    shot(page, "30-preview-csv")
