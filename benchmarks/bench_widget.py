"""The DAG widget's speed: live-update rate in the kernel, and drawing and responsiveness in Chromium.

1. Kernel side: a 100 000-task layered no-op build with a ``DagWidget``
   watching it (no browser): how many state batches it sent per second
   (the goal: at most ~10) and what watching costs per task.
2. Browser side: JupyterLab in Debian's Chromium renders a ``DagWidget`` of
   a 1 000-task graph; the time from the widget's element appearing to all
   1 000 nodes drawn (the goal: ≤ 3 s), median of 3 page loads; and the
   latency from a task starting to its node drawn running during a run.
3. Scale (issue 14, "responsive at scale"): for 1 000 / 3 000 / 10 000-task
   graphs the main thread's longest task and total long-task time (the
   browser's ``PerformanceObserver`` long-task entries) from running the cell
   to the graph drawn (3 000: also laid out in full; 10 000: collapsed, then
   one family expanded); the latency of clicks while a 10 000-task run
   updates the page; and the bytes the comm carries for the first widget on a
   page and for each further one.

4. Comm bytes per widget (anywidget): for a 5-task and a 1 000-task graph,
   the bytes the page receives for the first DAG widget (the shared layout
   engine carrying Graphviz, the widget's ES module and style, its graph) and
   for each further widget (its module, style and graph only), split by model.

    python benchmarks/bench_widget.py           # writes results_widget.md (and .json) beside this file
    python benchmarks/bench_widget.py --scale   # only part 3, merged into the existing results
    python benchmarks/bench_widget.py --comm    # only part 4, merged into the existing results
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the browser-test helpers (test_browser_scale.py)

GRAPH_CELL = """%%pipeline
import nbpipe

class Node(nbpipe.Task):
    layer = nbpipe.IntParameter()
    i = nbpipe.IntParameter()
    def requires(self):
        return [] if self.layer == 0 else [Node(self.layer - 1, (self.i + k) % 100) for k in range(2)]
    def complete(self):
        return False

class Top(nbpipe.WrapperTask):
    def requires(self):
        return [Node(9, i) for i in range(100)]
"""


def kernel_side(n: int = 100_000) -> dict:
    import bench_tasks as bt

    import nbpipe
    from nbpipe.driver.run import execute
    from nbpipe.notebook.widget import DagWidget

    nbpipe.configuration.set_option("core", "state", False)
    root = bt.root("layered", "noop", n)
    widget = DagWidget.__new__(DagWidget)  # the observer alone: no graph walk, no comm
    import threading

    widget._pending, widget._pending_details, widget._run_states, widget._run_details = {}, {}, {}, {}
    widget._started, widget._deps, widget._timer = {}, {}, None
    widget._last_push, widget.pushes, widget.min_interval = 0.0, 0, 0.1
    widget._lock = threading.Lock()
    sent = []

    def flush() -> None:  # what DagWidget.flush takes from the pending changes, without a comm
        with widget._lock:
            if widget._timer is not None:
                widget._timer.cancel()
                widget._timer = None
            sent.append(len(widget._pending))
            widget._pending.clear()
            widget._pending_details.clear()
            widget._last_push = time.monotonic()

    widget.flush = flush
    start = time.perf_counter()
    execute([root], observers=[widget.on_run_event])
    watched = time.perf_counter() - start
    return {
        "n": n,
        "watched_s": watched,
        "batches": len(sent),
        "batches_per_s": len(sent) / watched,
        "changes": sum(sent),
    }


def held_back_latency(repeat: int = 30) -> list[float]:
    """Seconds from a state change held back by the rate limit to its send, with no event after it.

    Each round: one change is sent at once (the interval had passed), a second follows straight away
    and must wait for the timer; the time until the ``states`` trait carries it is the kernel's part of
    the latency to the page (the goal for the whole path is 250 ms).
    """
    import threading

    import nbpipe
    from nbpipe.engine.events import Kind, RunEvent
    from nbpipe.engine.shown_state import shown_for_event
    from nbpipe.notebook.widget import DagWidget

    class Step(nbpipe.Task):
        i = nbpipe.IntParameter()

        def complete(self):
            return False

    class Pair(nbpipe.WrapperTask):
        def requires(self):
            return [Step(0), Step(1)]

    nbpipe.configuration.set_option("core", "state", False)
    widget = DagWidget(Pair())
    a, b = Step(0).task_id, Step(1).task_id
    out = []
    for r in range(repeat):
        kind = Kind.RUNNING if r % 2 == 0 else Kind.PENDING  # alternate, so each round is a change
        shown = shown_for_event(kind).value
        arrived = threading.Event()
        widget.observe(
            lambda ch, want=shown, done=arrived: done.set() if ch.new.get(b) == want else None, names=["states"]
        )
        widget._last_push = 0.0  # the interval has passed: the first change goes at once
        widget.on_run_event(RunEvent(kind, a, time.time()))
        start = time.monotonic()
        widget.on_run_event(RunEvent(kind, b, time.time()))  # held back; nothing follows it
        assert arrived.wait(5), "the held-back change was never sent"
        out.append(time.monotonic() - start)
        widget.unobserve_all("states")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BEAT_CELL = """%%pipeline
import time

import nbpipe


class Beat(nbpipe.Task):
    i = nbpipe.IntParameter()

    def requires(self):
        return [Beat(self.i - 1)] if self.i else []

    def output(self):
        return nbpipe.LocalTarget(f"beats/{self.i}")

    def run(self):
        with open(f"started_{self.i}", "w") as f:
            f.write(repr(time.time()))
        time.sleep(1.0)
        with self.output().open("w") as f:
            f.write("x")
"""

#: Records when each node is first drawn running (wall clock, the kernel's clock on this machine).
SEEN_RUNNING_JS = """
window.__seenRunning = {};
new MutationObserver(records => {
  for (const r of records) {
    const t = r.target;
    if (t.classList && t.classList.contains('nbpipe-state-running')) {
      const id = t.getAttribute('id');
      if (id && !(id in window.__seenRunning)) window.__seenRunning[id] = Date.now();
    }
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['class'] });
"""


def _page_latency(browser, port: int, token: str, root: Path, beats: int = 6) -> list[float]:
    """Seconds from each 1 s task starting (the kernel's clock) to its node drawn running in the page."""
    from nbpipe.task import task_id_str

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(SEEN_RUNNING_JS)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/beats.ipynb?reset&token={token}")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
    # Cell by cell, each waited for ("Run All Cells" right after loading sometimes runs nothing).
    import test_browser_scale as tbs

    tbs._run_cells_one_by_one(page, 3)
    try:
        page.wait_for_function(
            f"document.querySelectorAll('.nbpipe-dag g.node.nbpipe-state-ran').length >= {beats}", timeout=120_000
        )
    finally:
        page.screenshot(path=str(HERE.parent / "test-artifacts" / "bench-beats.png"))
    seen = page.evaluate("window.__seenRunning")
    page.close()
    out = []
    for i in range(beats):
        started = float((root / f"started_{i}").read_text())
        out.append(seen[task_id_str("Beat", {"i": str(i)})] / 1000 - started)
    return out


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def lab_server(root: Path):
    """A JupyterLab server on a free port serving ``root``; yields (port, token)."""
    port, token = _free_port(), "bench"
    env = dict(os.environ, NBPIPE_STATE_DIR=str(root / ".nbpipe"))
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
            "--allow-root",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=root,
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield port, token
    finally:
        server.terminate()
        server.wait()


def _write_notebook(path: Path, *sources: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def browser_side(repeat: int = 3) -> tuple[list[float], list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="nbpipe-widget-bench-"))
    _write_notebook(root / "big.ipynb", "%load_ext nbpipe", GRAPH_CELL, "%pipeline show Top")
    _write_notebook(
        root / "beats.ipynb", "%load_ext nbpipe", BEAT_CELL, "%pipeline run Beat --i 5 --workers 2 --background"
    )
    times, totals = [], []
    try:
        with lab_server(root) as (port, token), sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/big.ipynb?token={token}")
                page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
                page.click("li.lm-MenuBar-item >> text=Run")
                clicked = time.monotonic()
                page.click("li.lm-Menu-item >> text=Run All Cells")
                page.wait_for_selector(".nbpipe-dag", timeout=120_000)
                start = time.monotonic()
                page.wait_for_function(
                    "document.querySelectorAll('.nbpipe-dag g.node').length >= 1000", timeout=120_000, polling=20
                )
                done = time.monotonic()
                times.append(done - start)
                totals.append(done - clicked)
                page.close()
            latency = _page_latency(browser, port, token, root)
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return times, totals, latency


# ------------------------------------------------------------------------------------------- scale

#: The scale graphs: families x tasks per family (+ Top).
SCALES = {1000: (10, 100), 3000: (30, 100), 10000: (25, 400)}


def _shift_enter_last(page, count: int) -> float:
    """Run cells 1..count-1 one by one, then the last one; returns performance.now() as it was sent."""
    import test_browser_scale as tbs

    tbs._run_cells_one_by_one(page, count - 1)
    cell = page.locator(f"{tbs.SHOWN_NOTEBOOK} .jp-CodeCell").nth(count - 1)
    cell.locator(".jp-InputArea-editor").click()
    started = tbs.now(page)
    page.keyboard.press("Shift+Enter")
    return started


def _comm_counter(page) -> dict:
    """Bytes of comm_open / comm_msg frames the page receives from the kernel (counted as they arrive);
    also split into the layout engine's comm_open, the DAG widgets' comm_open and the rest."""
    counted = {"comm": 0, "frames": 0, "engine_open": 0, "widget_open": 0, "other": 0}

    def on_frame(payload) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        if b'"comm_open"' in data[:4096] or b'"comm_msg"' in data[:4096]:
            counted["comm"] += len(data)
            counted["frames"] += 1
            if b'"comm_open"' in data[:4096] and b'"graphviz_source"' in data:
                counted["engine_open"] += len(data)
            elif b'"comm_open"' in data[:4096] and b'"_esm"' in data:
                counted["widget_open"] += len(data)
            else:
                counted["other"] += len(data)

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return counted


def scale_side() -> dict:
    """Long tasks per graph size, expand and click latency at 10 000, comm bytes per widget."""
    import test_browser_scale as tbs
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="nbpipe-widget-scale-"))
    out: dict = {"sizes": {}}
    try:
        with lab_server(root) as (port, token), sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)

            def open_page(name: str, *cells: str):
                _write_notebook(root / f"{name}.ipynb", "%load_ext nbpipe", *cells)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.add_init_script(tbs.PAGE_PROBES_JS)
                counted = _comm_counter(page)
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}.ipynb?reset&token={token}")
                page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
                return page, counted

            for n, (families, width) in SCALES.items():
                page, counted = open_page(f"scale{n}", tbs.scale_cell(families, width), "%pipeline show Top")
                started = _shift_enter_last(page, 3)
                dag = page.locator(f"{tbs.SHOWN_NOTEBOOK} .nbpipe-dag").first
                collapsed = n > 1500
                drawn = tbs.wait_nodes(page, dag, families + 1 if collapsed else n + 1)
                end = tbs.settled(page)
                first = tbs.long_tasks(page, started, end)
                row = {
                    "shown": "collapsed by family" if collapsed else "every task",
                    "cell_to_drawn_ms": drawn - started,
                    "widget_to_drawn_ms": drawn - page.evaluate("window.__dagAt"),
                    "longest_ms": max(first, default=0),
                    "total_ms": sum(first),
                    "count": len(first),
                    "engine": dag.locator(".nbpipe-graph").get_attribute("data-layout-engine"),
                    "comm_bytes_first_widget": counted["comm"],
                }
                if n == 3000:  # laid out in full as well
                    start = tbs.now(page)
                    tbs.collapse_toggle(dag).uncheck()
                    drawn = tbs.wait_nodes(page, dag, n + 1)
                    full = tbs.long_tasks(page, start, tbs.settled(page))
                    row["full"] = {"ms": drawn - start, "longest_ms": max(full, default=0), "total_ms": sum(full)}
                if n == 10000:  # one family expanded, and a second widget of the same graph on the page
                    dag.locator('g.node[id="nbpipe-family:Stage05"]').click()
                    start = tbs.now(page)
                    dag.locator(".nbpipe-family-toggle", has_text="Expand family Stage05").click()
                    drawn = tbs.wait_nodes(page, dag, families + width)
                    expand = tbs.long_tasks(page, start, tbs.settled(page))
                    row["expand"] = {"ms": drawn - start, "longest_ms": max(expand, default=0)}
                if n == 1000:
                    before = counted["comm"]
                    page.locator(f"{tbs.SHOWN_NOTEBOOK} .jp-CodeCell").nth(2).locator(".jp-InputArea-editor").click()
                    for key in ("Escape", "b", "Enter"):  # a new cell below, in edit mode
                        page.keyboard.press(key)
                    page.keyboard.type("%pipeline show Top")
                    page.keyboard.press("Shift+Enter")
                    second = page.locator(f"{tbs.SHOWN_NOTEBOOK} .nbpipe-dag").nth(1)
                    tbs.wait_nodes(page, second, n + 1)
                    row["comm_bytes_each_further_widget"] = counted["comm"] - before
                    second.scroll_into_view_if_needed()
                    page.screenshot(path=str(tbs.ARTIFACTS / "bench-1k-second-widget.png"))
                out["sizes"][n] = row
                page.close()

            families, width = SCALES[10000]
            page, _ = open_page(
                "scalerun", tbs.scale_cell(families, width, sleep=0.001), "%pipeline run Top --background"
            )
            _shift_enter_last(page, 3)
            dag = page.locator(f"{tbs.SHOWN_NOTEBOOK} .nbpipe-dag").first
            tbs.wait_nodes(page, dag, families + 1)
            clicks, watched = [], tbs.now(page)
            for ran, k in ((500, 3), (2000, 8), (4000, 12), (6000, 16), (8000, 20)):
                page.wait_for_function(
                    """n => { const c = document.querySelector(
                                '.nbpipe-dag .nbpipe-legend-item.nbpipe-state-ran .nbpipe-legend-count');
                              return c && Number(c.textContent) >= n; }""",
                    arg=ran,
                    timeout=300_000,
                )
                start = tbs.now(page)
                dag.locator(f'g.node[id="nbpipe-family:Stage{k:02d}"]').click()
                dag.locator(".nbpipe-detail-title", has_text=f"Stage{k:02d}").wait_for()
                events = page.evaluate("window.__events")
                clicks.append(max((d for e, t, d in events if t >= start and e in tbs.CLICK_EVENTS), default=0))
            during = tbs.long_tasks(page, watched, tbs.now(page))
            out["run"] = {
                "click_latency_ms": clicks,
                "longest_ms": max(during, default=0),
                "total_ms": sum(during),
                "watched_ms": tbs.now(page) - watched,
            }
            dag.locator('button[data-action="stop"]').first.click()
            page.close()
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def scale_lines(scale: dict) -> list[str]:
    sizes = {int(k): v for k, v in scale["sizes"].items()}
    lines = [
        "## Responsive at scale (JupyterLab, headless Chromium)",
        "",
        "Layout runs in a Web Worker (started from a Blob URL of the Graphviz code that the shared layout "
        "engine brought), is cached by the digest of "
        "the graph, and the SVG goes into the page a frame's worth at a time. Long tasks are the browser's "
        "`PerformanceObserver` long-task entries (> 50 ms) of the main thread, from Shift+Enter on the "
        "`%pipeline show` cell to the graph drawn (so they include receiving the widget's state).",
        "",
        "| tasks | shown | cell → drawn | widget → drawn | longest task | long tasks (total) | layout |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in sorted(sizes.items()):
        lines.append(
            f"| {n:,} | {r['shown']} | {r['cell_to_drawn_ms']:.0f} ms | {r['widget_to_drawn_ms']:.0f} ms | "
            f"**{r['longest_ms']:.0f} ms** | {r['count']} ({r['total_ms']:.0f} ms) | {r['engine']} |"
        )
    full = sizes[3000]["full"]
    expand = sizes[10000]["expand"]
    run = scale["run"]
    lines += [
        "",
        f'- 3 000 tasks laid out in full (unticking "Collapse by family"): drawn in {full["ms"]:.0f} ms, '
        f"longest main-thread task **{full['longest_ms']:.0f} ms** (goal < 200 ms; before: one 2.7–3.6 s "
        f"block), long tasks {full['total_ms']:.0f} ms in total.",
        f"- 10 000 tasks: collapsed view drawn {sizes[10000]['widget_to_drawn_ms']:.0f} ms after the widget "
        f"appeared (goal ≤ 2 s); one family of 400 expanded in **{expand['ms']:.0f} ms** (goal ≤ 1 s), "
        f"longest task {expand['longest_ms']:.0f} ms.",
        f"- Clicks on a family while a 10 000-task run updates the page (Event Timing, input to next paint; "
        f"0 = under its 16 ms threshold): {', '.join(f'{c:.0f}' for c in run['click_latency_ms'])} ms "
        f"(goal < 100 ms); over those {run['watched_ms'] / 1000:.0f} s the longest main-thread task was "
        f"{run['longest_ms']:.0f} ms, long tasks {run['total_ms']:.0f} ms in total. State changes travel as "
        'deltas (`{event: "states"}` comm messages), not as the whole `states`/`details` traits.',
        f"- Comm bytes (comm_open + comm_msg frames received): first widget of a 1 000-task graph "
        f"{sizes[1000]['comm_bytes_first_widget'] / 1e3:.0f} kB; each further widget of it on the page "
        f"{sizes[1000]['comm_bytes_each_further_widget'] / 1e3:.0f} kB (every widget carries its own DOT, "
        f"nodes and edges, and its ES module and style; Graphviz comes once per kernel, with the first "
        f"widget: see the comm section below). 3 000 tasks: "
        f"{sizes[3000]['comm_bytes_first_widget'] / 1e3:.0f} kB; 10 000: "
        f"{sizes[10000]['comm_bytes_first_widget'] / 1e6:.1f} MB.",
        "",
    ]
    return lines


#: The comm measurement's graphs: task count -> (families, tasks per family) of test_browser_scale.scale_cell (+ Top).
COMM_GRAPHS = {5: (2, 2), 1001: (10, 100)}
FURTHER_WIDGETS = 2


def comm_side() -> dict:
    """Bytes over the comm for the first DAG widget on a page and for each further one (JupyterLab)."""
    import test_browser_scale as tbs
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="nbpipe-widget-comm-"))
    out: dict = {}
    try:
        with lab_server(root) as (port, token), sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)
            for n, (families, width) in COMM_GRAPHS.items():
                name = f"comm{n}"
                _write_notebook(root / f"{name}.ipynb", "%load_ext nbpipe", tbs.scale_cell(families, width))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                counted = _comm_counter(page)
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}.ipynb?reset&token={token}")
                page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
                tbs._run_cells_one_by_one(page, 2)
                rows = []
                for k in range(1 + FURTHER_WIDGETS):
                    before = dict(counted)
                    cells = page.locator(f"{tbs.SHOWN_NOTEBOOK} .jp-CodeCell")
                    cells.nth(cells.count() - 1).locator(".jp-InputArea-editor").click()
                    for key in ("Escape", "b", "Enter"):  # a new cell below, in edit mode
                        page.keyboard.press(key)
                    page.keyboard.type("%pipeline show Top")
                    page.keyboard.press("Shift+Enter")
                    dag = page.locator(f"{tbs.SHOWN_NOTEBOOK} .nbpipe-dag").nth(k)
                    try:
                        tbs.wait_nodes(page, dag, n)
                    finally:
                        page.screenshot(path=str(tbs.ARTIFACTS / f"bench-comm-{n}-{k}.png"))
                    rows.append({key: counted[key] - before[key] for key in counted})
                    engine = dag.locator(".nbpipe-graph").get_attribute("data-layout-engine")
                page.screenshot(path=str(tbs.ARTIFACTS / f"bench-comm-{n}.png"))
                out[n] = {"widgets": rows, "layout": engine}
                page.close()
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def comm_lines(comm: dict) -> list[str]:
    graphs = {int(k): v for k, v in comm.items()}
    lines = [
        "## Comm bytes per widget (JupyterLab, headless Chromium)",
        "",
        "The DAG widget is an anywidget: its view (one ES module bundled by esbuild) and style travel in the "
        "widget's state, and Graphviz (~0.8 MB of JavaScript with its WASM inlined) travels once per kernel, "
        "in one shared layout-engine model that every DAG widget references. Bytes are the comm_open and "
        "comm_msg websocket frames the page receives from `%pipeline show Top` until the graph is drawn.",
        "",
        "| tasks | widget | total | layout engine (its comm_open) | DAG widget's comm_open (ES module, style) "
        "| graph and updates (comm_msg) | layout |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, g in sorted(graphs.items()):
        for i, r in enumerate(g["widgets"]):
            which = "first" if i == 0 else f"further ({i + 1}.)"
            lines.append(
                f"| {n:,} | {which} | **{r['comm'] / 1e3:.0f} kB** | {r['engine_open'] / 1e3:.0f} kB | "
                f"{r['widget_open'] / 1e3:.0f} kB | {r['other'] / 1e3:.1f} kB | {g['layout']} |"
            )
    small = graphs[min(graphs)]["widgets"]
    lines += [
        "",
        f"- A further widget of a {min(graphs)}-task graph costs {small[1]['comm'] / 1e3:.0f} kB instead of "
        f"{small[0]['comm'] / 1e3:.0f} kB: Graphviz is not sent again. What every widget carries is its ES "
        f"module and style ({small[0]['widget_open'] / 1e3:.0f} kB) and its graph (DOT, nodes, edges, states; "
        "sent right after the comm opens). Before (a JupyterLab extension) the code came from the server, "
        "not the comm, but only JupyterLab, Notebook 7 and Voilà could show the widget.",
        "",
    ]
    return lines


def comm_only() -> int:
    """Run part 4 alone and put its section into the existing results (the other parts as they were)."""
    comm = comm_side()
    results = json.loads((HERE / "results_widget.json").read_text())
    results["comm"] = comm
    (HERE / "results_widget.json").write_text(json.dumps(results, indent=2))
    md = (HERE / "results_widget.md").read_text()
    head = md.split("## Comm bytes per widget")[0].rstrip("\n") + "\n\n"
    section = "\n".join(comm_lines(comm)) + f"\n(Measured alone with --comm; machine: {machine_load()}.)\n"
    (HERE / "results_widget.md").write_text(head + section)
    print(section)
    return 0


def machine_load() -> str:
    """The load average, because these timings are wall-clock on a machine others may be using."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> int:
    if "--scale" in sys.argv[1:]:
        return scale_only()
    if "--comm" in sys.argv[1:]:
        return comm_only()
    load_before = machine_load()
    kernel = kernel_side()
    latency = held_back_latency()
    render, totals, page_latency = browser_side()
    med = statistics.median(render)
    med_total = statistics.median(totals)
    lines = [
        "# DAG widget benchmark",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "## Live updates (kernel side, no browser)",
        "",
        f"A {kernel['n']:,}-task layered no-op build watched by the widget: {kernel['changes']:,} state changes "
        f"went out in {kernel['batches']} batches over {kernel['watched_s']:.2f} s = "
        f"**{kernel['batches_per_s']:.1f} batches/s** (goal ≤ ~10; the first and the last batch are sent at once).",
        "",
        "## Latency of the last change before a quiet period (kernel side)",
        "",
        f"A change held back by the rate limit, with no event after it (a task starting, then running for "
        f"minutes), is sent by the flush timer: median **{statistics.median(latency) * 1000:.0f} ms**, "
        f"max {max(latency) * 1000:.0f} ms over {len(latency)} rounds (interval 100 ms; goal: the page "
        "within 250 ms). Before issue 14 such a change waited for the next event, i.e. until the task ended.",
        "",
        "## Latency from a task starting to its node drawn running (JupyterLab, headless Chromium)",
        "",
        "A background run (`--workers 2`, process executor) of six 1 s tasks in a chain; each task writes "
        "the time it starts, the page records "
        f"when its node is first drawn running: median **{statistics.median(page_latency) * 1000:.0f} ms**, "
        f"max {max(page_latency) * 1000:.0f} ms (goal ≤ 250 ms; each node then stays running for its whole "
        "second). With `--workers 1` (the inline executor) the run loop publishes a task's RUNNING event "
        "before running it, so the same holds there.",
        "",
        "## Rendering 1 000 nodes (JupyterLab, headless Chromium)",
        "",
        f'From "Run All Cells" (the kernel loading nbpipe, defining the tasks, walking the 1 001-task '
        f"graph and sending it) to 1 000 SVG nodes drawn: median **{med_total:.2f} s** "
        f"(runs: {', '.join(f'{t:.2f}' for t in totals)}); of which from the widget's element appearing: median "
        f"{med:.2f} s. Goal ≤ 3 s: **{'MET' if med_total <= 3 else 'NOT MET'}** (even counting the kernel's part).",
        "",
    ]
    scale = scale_side()
    lines += scale_lines(scale)
    comm = comm_side()
    lines += comm_lines(comm)
    lines.insert(3, f"Machine: {load_before} at the start, {machine_load()} at the end.")
    lines.insert(4, "")
    (HERE / "results_widget.md").write_text("\n".join(lines))
    (HERE / "results_widget.json").write_text(
        json.dumps(
            {
                "kernel": kernel,
                "held_back_latency_s": latency,
                "page_latency_s": page_latency,
                "render_s": render,
                "from_run_all_s": totals,
                "scale": scale,
                "comm": comm,
            },
            indent=2,
        )
    )
    print("\n".join(lines))
    return 0


def scale_only() -> int:
    """Run part 3 alone and put its section into the existing results (the other parts as they were)."""
    scale = scale_side()
    results = json.loads((HERE / "results_widget.json").read_text())
    results["scale"] = scale
    (HERE / "results_widget.json").write_text(json.dumps(results, indent=2))
    md = (HERE / "results_widget.md").read_text()
    head = md.split("## Responsive at scale")[0].rstrip("\n") + "\n\n"
    tail = md[md.index("## Comm bytes per widget") :] if "## Comm bytes per widget" in md else ""
    section = "\n".join(scale_lines(scale)) + f"\n(Measured alone with --scale; machine: {machine_load()}.)\n"
    (HERE / "results_widget.md").write_text(head + section + ("\n" + tail if tail else ""))
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
