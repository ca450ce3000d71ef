"""The log of a task's last attempt in the detail panel, as Chromium lays it out with the widget's own style.

The kernel does not send the log yet (it will answer `outputs` with a `log` key); this test gives the built
view (``nbpipe/notebook/static/dag_view.js``, loaded as anywidget loads it: ``render({model, el})``) a
stand-in model and the reply a kernel will send, and checks what only a real browser can tell: the block is
monospace, wraps at spaces, and scrolls when long. The node unit tests (labextension/test/view.test.ts)
check the rendering rules themselves.
"""

from __future__ import annotations

import pytest
import test_browser
from test_browser import shot

pytestmark = pytest.mark.slow

page = test_browser.page

STATIC = test_browser.REPO / "nbpipe" / "notebook" / "static"
ORIGIN = "http://widget.test/"

#: A page that renders the bundle with a stand-in for anywidget's model and the widget manager.
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="stylesheet" href="dag_view.css"></head>
<body><div id="widget" style="width: 1100px"></div>
<script type="module">
import widget from './dag_view.js';
const graphviz = await (await fetch('graphviz.json')).json();
class Model {
  constructor(traits) { this.traits = traits; this.handlers = {}; }
  get(name) { return this.traits[name]; }
  set(name, value) { this.traits[name] = value; (this.handlers['change:' + name] || []).forEach(f => f()); }
  on(event, f) { (this.handlers[event] = this.handlers[event] || []).push(f); }
  off() {}
  send() {}
  save_changes() {}
  trigger(event, ...args) { (this.handlers[event] || []).forEach(f => f(...args)); }
}
const engine = new Model({ graphviz_source: graphviz.source, graphviz_class: graphviz.graphviz_class });
const model = new Model({
  dot: 'digraph { "Fetch_north" [id="Fetch_north", label="Fetch\\\\nstation=north"]; }',
  nodes: { Fetch_north: { label: 'Fetch\\nstation=north', family: 'Fetch', params: { station: 'north' },
    state: 'failed', reasons: [], outputs: ['live/fetch_north'], duration: 0.4,
    error: 'ValueError: station north did not answer', traceback: null } },
  edges: [], states: {}, details: {}, summary_html: '', running: false, layout_engine: 'IPY_MODEL_engine'
});
model.widget_manager = { get_model: async () => engine };
window.dagModel = model;
widget.render({ model, el: document.getElementById('widget') });
</script></body></html>"""

LOG = {
    "lines": [
        "fetching station north from https://example.org/api/v2/stations/north/readings?from=2026-11-01&page=1",
        "retrying in 2 s (attempt 2 of 3) because the remote host refused the connection to port 443",
        *(f"reading block {i} of the response" for i in range(40)),
        "ValueError: station north did not answer",
    ],
    "truncated": True,
    "status": "failed",
}


def test_the_log_of_the_last_attempt_is_a_monospace_block_that_wraps_at_spaces_and_scrolls(page):
    if not (STATIC / "dag_view.js").exists():
        pytest.fail("the front end is not built: run `npm run build` in labextension/")
    kinds = {"html": "text/html", "js": "text/javascript", "css": "text/css", "json": "application/json"}

    def answer(route) -> None:
        name = route.request.url.removeprefix(ORIGIN)
        body = PAGE if name == "page.html" else (STATIC / name).read_bytes()
        route.fulfill(body=body, content_type=kinds[name.rsplit(".", 1)[1]])

    page.route(f"{ORIGIN}**", answer)
    page.goto(f"{ORIGIN}page.html")
    page.locator('g.node[id="Fetch_north"]').click()
    panel = page.locator(".nbpipe-detail")
    panel.wait_for()
    assert panel.locator(".nbpipe-log").is_hidden()  # nothing until the kernel answers
    reply = {"event": "outputs", "task_id": "Fetch_north", "outputs": [], "log": LOG}
    page.evaluate("reply => window.dagModel.trigger('msg:custom', reply)", reply)
    block = panel.locator("pre.nbpipe-log-lines")
    block.wait_for()
    assert panel.locator(".nbpipe-log-title").inner_text().lower() == "log of the last attempt (failed)"
    style = block.evaluate(
        """e => { const s = getComputedStyle(e);
                  return { whiteSpace: s.whiteSpace, wordBreak: s.wordBreak, font: s.fontFamily,
                           scrolls: e.scrollHeight > e.clientHeight, fitsWidth: e.scrollWidth <= e.clientWidth }; }"""
    )
    assert style["whiteSpace"] == "pre-wrap" and style["wordBreak"] == "normal", style
    assert "mono" in style["font"].lower(), style
    assert style["scrolls"] and style["fitsWidth"], style  # long: scrolls down, never sideways
    # The retry line is wider than the panel: it wraps, and at a space (no word is cut).
    text = block.evaluate(
        """e => { const r = document.createRange(); const t = e.firstChild; const lines = [];
                  let top = null, start = 0;
                  for (let i = 0; i < t.length; i++) {
                    r.setStart(t, i); r.setEnd(t, i + 1);
                    const y = r.getClientRects()[0]?.top;
                    if (y === undefined) continue;
                    if (top !== null && y > top + 1) { lines.push(t.data.slice(start, i)); start = i; }
                    top = y;
                  }
                  lines.push(t.data.slice(start)); return lines; }"""
    )
    first = next(i for i, line in enumerate(text) if line.startswith("retrying"))
    assert text[first].endswith(" ") and text[first + 1].startswith("remote host"), text[:6]
    assert panel.locator(".nbpipe-preview-note", has_text="not every line").count() == 1
    shot(page, "80-log-of-the-last-attempt")

    # A reply without a log (null) shows nothing.
    page.evaluate("reply => window.dagModel.trigger('msg:custom', reply)", {**reply, "log": None})
    assert panel.locator(".nbpipe-log").is_hidden()
