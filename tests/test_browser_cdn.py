"""The DAG widget where widget code comes from a CDN by npm package name (VS Code, Colab, exported HTML).

Those front ends have no JupyterLab extensions: they render widgets with a
widget manager like ``@jupyter-widgets/html-manager`` and fetch each model's
module from jsDelivr/unpkg by its npm name and version.  The DAG widget is an
anywidget, so the only module fetched is ``anywidget`` (published on npm); its
own code and Graphviz travel in the widget state.  This test builds such a
page from the widget state an executed notebook stored, opens it in Debian's
Chromium, and answers every CDN request from the npm packages installed in
``labextension/node_modules`` (devDependencies there; CI has no internet but
the registries).  Anything else the page asks the network for is refused and
fails the test.

Actions need a live kernel, which a page of stored widget state does not have:
here only the rendering is checked (tests/test_browser.py and the Voilà test
check actions).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import test_browser
from test_browser import ARTIFACTS, EXPORT_CELL, FETCH, LIVE, QUICK, SLOW, SUMMARY, _write_notebook, shot

pytestmark = pytest.mark.slow

page = test_browser.page

REPO = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO / "labextension" / "node_modules"
HTML_MANAGER_VERSION = "1.0.15"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: Where the page itself is served from (answered by routing too, so the page has an http origin as in an
#: editor's webview, not a file:// one).
PAGE_ORIGIN = "http://notebook.test/"
PAGE_URL = PAGE_ORIGIN + "report.html"
#: `<cdn>/npm/<package>@<version>/<file>` (jsDelivr) and `<cdn>/<package>@<version>/<file>` (unpkg).
CDN_URL = re.compile(
    r"^https://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/(?P<package>(?:@[^/@]+/)?[^/@]+)@(?P<version>[^/]+)/(?P<file>.+)$"
)
#: require.js, which html-manager's AMD build needs on the page (nbconvert's template loads 2.1.10 from
#: cdnjs; any version is answered with the installed one).
REQUIRE_JS_URL = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.8/require.min.js"
MATHJAX = re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/")
REQUIRE_JS = re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[\d.]+/require(\.min)?\.js$")


def _page_html(state: dict, model_ids: list[str]) -> str:
    """A plain page on html-manager: the stored widget state and one view per widget output, nothing else."""
    views = "\n".join(
        '<div class="output"><script type="{}">{}</script></div>'.format(
            WIDGET_VIEW, html.escape(json.dumps({"version_major": 2, "version_minor": 0, "model_id": m}), quote=False)
        )
        for m in model_ids
    )
    # `</` cannot end the script element early: JSON allows `<\/` for it.
    state_json = json.dumps({"version_major": 2, "version_minor": 0, "state": state}).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>nbpipe report</title>
<script src="{REQUIRE_JS_URL}"></script>
<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@{HTML_MANAGER_VERSION}/dist/embed-amd.js"
        crossorigin="anonymous"></script>
<script type="{WIDGET_STATE}">{state_json}</script>
</head><body>
{views}
</body></html>"""


def _version_satisfies(installed: str, wanted: str) -> bool:
    """Whether an installed version fits the range a page asked for (the forms widget managers use)."""
    if wanted in ("*", "latest") or wanted == installed:
        return True
    major, minor, *_ = installed.split(".")
    if wanted.startswith("~"):
        return wanted[1:].split(".")[:2] == [major, minor]
    if wanted.startswith("^"):
        parts = wanted[1:].split(".")
        return parts[0] == major and (major != "0" or parts[1] == minor)
    return False


def _local_file(url: str) -> Path | None:
    """The file of an installed npm package that a CDN URL names; None when it is not installed or too old."""
    m = CDN_URL.match(url.split("?")[0])
    if not m:
        return None
    package_dir = NODE_MODULES / m["package"]
    if not (package_dir / "package.json").is_file():
        return None
    installed = json.loads((package_dir / "package.json").read_text())["version"]
    if not _version_satisfies(installed, m["version"]):
        return None
    path = (package_dir / m["file"]).resolve()
    if not path.is_file() and path.with_suffix(".js").is_file():
        path = path.with_suffix(".js")  # AMD loaders leave ".js" off
    return path if path.is_file() and package_dir.resolve() in path.parents else None


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A notebook executed by nbclient (as `jupyter nbconvert --execute` does), which stores the widget state."""
    if not (NODE_MODULES / "@jupyter-widgets" / "html-manager").is_dir():
        pytest.fail("labextension/node_modules lacks @jupyter-widgets/html-manager: run `npm install` in labextension/")
    root = tmp_path_factory.mktemp("cdn")
    _write_notebook(root / "report.ipynb", "%load_ext nbpipe", EXPORT_CELL, "%pipeline run Live --workers 2")
    env = dict(os.environ, NBPIPE_STATE_DIR=str(root / ".nbpipe"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "report.ipynb",
            "--output",
            "report.executed.ipynb",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (root / "report.executed.ipynb").exists(), run.stdout + run.stderr
    nb = nbformat.read(root / "report.executed.ipynb", as_version=4)
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    model_ids = [
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if WIDGET_VIEW in out.get("data", {})
    ]
    return state, model_ids, root


def _serve_cdn_from_node_modules(page, page_html: str) -> tuple[list[str], list[str]]:
    """Route the page's requests: PAGE_URL gets ``page_html``, CDN URLs the installed npm packages' files;
    anything else is refused. Returns the lists of served and refused URLs (filled as the page loads)."""
    served: list[str] = []
    refused: list[str] = []

    def answer(route) -> None:
        url = route.request.url
        if url == PAGE_URL:
            route.fulfill(body=page_html, content_type="text/html")
        elif REQUIRE_JS.match(url):
            served.append(url)
            route.fulfill(path=str(NODE_MODULES / "requirejs" / "require.js"), content_type="text/javascript")
        elif (path := _local_file(url)) is not None:
            served.append(url)
            kinds = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
            route.fulfill(
                path=str(path),
                content_type=kinds.get(path.suffix, "application/octet-stream"),
                headers={"Access-Control-Allow-Origin": "*"},
            )
        elif url.startswith(("blob:", "data:")):
            route.continue_()
        elif MATHJAX.match(url):
            route.fulfill(body="", content_type="text/javascript")  # nbconvert's page loads it; no widget needs it
        elif url.startswith(PAGE_ORIGIN):
            # html-manager's loader asks the page's own folder first (`anywidget.js`), then the CDN.
            route.fulfill(status=404, body="not here")
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", answer)
    return served, refused


def _assert_final_dag(page, name: str) -> None:
    """The page shows the DAG widget as the run ended: every node's state, reasons, laid out by the worker."""
    dag = page.locator(".nbpipe-dag").first
    dag.locator("g.node").nth(4).wait_for(timeout=120_000)
    final = {SLOW: "ran", QUICK: "ran", FETCH: "failed", SUMMARY: "upstream_failed", LIVE: "upstream_failed"}
    for task_id, shown in final.items():
        dag.locator(f'g.node.nbpipe-state-{shown}[id="{task_id}"]').wait_for(timeout=30_000)
    assert dag.locator("g.node").count() == len(final)
    tip = dag.locator(f'g.node[id="{SUMMARY}"] title').first.text_content() or ""
    assert "upstream Fetch(station=north) failed" in tip
    # Laid out by Graphviz in a Web Worker started from the engine's code (no worker file on any CDN).
    assert dag.locator(".nbpipe-graph").get_attribute("data-layout-engine") == "worker"
    dag.scroll_into_view_if_needed()
    shot(page, name)


def test_the_dag_renders_from_stored_widget_state_with_widget_code_from_the_cdn(executed, page):
    state, model_ids, _ = executed
    dags = [m for m in model_ids if state[m]["state"].get("_anywidget_id") == "nbpipe.notebook.widget.DagWidget"]
    assert len(dags) == 1, model_ids
    dag_state = state[dags[0]]
    # The widget is anywidget's model (published on npm), not a module of nbpipe's own (which is not).
    assert (dag_state["model_module"], dag_state["model_name"]) == ("anywidget", "AnyModel")
    # Graphviz is not in the widget's code: it is in the one shared engine the widget refers to.
    engine_ref = dag_state["state"]["layout_engine"]
    assert engine_ref.startswith("IPY_MODEL_")
    engine = state[engine_ref.removeprefix("IPY_MODEL_")]
    assert engine["model_module"] == "@jupyter-widgets/base" and len(engine["state"]["graphviz_source"]) > 500_000
    assert len(dag_state["state"]["_esm"]) < 100_000

    served, refused = _serve_cdn_from_node_modules(page, _page_html(state, model_ids))
    page.goto(PAGE_URL)
    _assert_final_dag(page, "60-cdn-html-manager")
    dag = page.locator(".nbpipe-dag").first
    # A click opens the detail panel from the stored state (its actions need a kernel: not checked here).
    dag.locator(f'g.node[id="{FETCH}"]').click()
    panel = dag.locator(".nbpipe-detail")
    panel.locator("pre.nbpipe-error").wait_for()
    assert "did not answer" in panel.inner_text()
    shot(page, "61-cdn-html-manager-detail")

    assert any("/anywidget@" in u for u in served), served  # anywidget came from "the CDN", by package name
    assert any(f"/@jupyter-widgets/html-manager@{HTML_MANAGER_VERSION}/" in u for u in served), served
    assert refused == [], f"the page asked the network for what no local npm package answers: {refused}"
    (ARTIFACTS / "cdn-requests.log").write_text("\n".join(served))


def test_an_nbconvert_html_export_of_the_executed_notebook_shows_the_dag_as_it_ended(executed, page):
    """`jupyter nbconvert --to html` of a notebook executed with a widget manager: nbconvert's page renders
    the widget from the stored state with html-manager and anywidget from a CDN (unpkg here), answered from
    node_modules. (Offline, nbconvert shows nothing for a widget output: it drops the output's other forms
    when widget state is stored. The report `nbpipe execute` writes has no widgets and keeps the static
    SVG: test_browser.py::test_html_export_of_an_executed_notebook_shows_the_dag_as_it_ended.)"""
    _, _, root = executed
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "report.executed.ipynb"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    served, refused = _serve_cdn_from_node_modules(page, (root / "report.executed.html").read_text())
    page.goto(PAGE_URL)
    _assert_final_dag(page, "62-nbconvert-export-widget-from-cdn")
    assert any("/anywidget@" in u for u in served) and any("/@jupyter-widgets/html-manager@" in u for u in served)
    assert refused == [], f"the page asked the network for what no local npm package answers: {refused}"
