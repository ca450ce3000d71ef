"""The DAG widget's speed: live-update rate in the kernel, and 1 000-node render time in Chromium.

1. Kernel side: a 10 000-task layered no-op build with a ``DagWidget``
   watching it (no browser): how many state batches it sent per second
   (the goal: at most ~10) and what watching costs per task.
2. Browser side: JupyterLab in Debian's Chromium renders a ``DagWidget`` of
   a 1 000-task graph; the time from the widget's element appearing to all
   1 000 nodes drawn (the goal: ≤ 3 s), median of 3 page loads.

    python benchmarks/bench_widget.py     # writes results_widget.md beside this file
"""

from __future__ import annotations

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
    widget._pending, widget._last_push, widget.pushes, widget.min_interval = {}, 0.0, 0, 0.1
    import threading

    widget._lock = threading.Lock()
    sent = []
    widget.flush = lambda: (
        sent.append(len(widget._pending)),
        widget._pending.clear(),
        setattr(widget, "_last_push", time.monotonic()),
    )
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_side(repeat: int = 3) -> list[float]:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="nbpipe-widget-bench-"))
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext nbpipe"),
        nbformat.v4.new_code_cell(GRAPH_CELL),
        nbformat.v4.new_code_cell("%pipeline show Top"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "big.ipynb")
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
    times, totals = [], []
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
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
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)
    return times, totals


def main() -> int:
    kernel = kernel_side()
    render, totals = browser_side()
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
        "## Rendering 1 000 nodes (JupyterLab, headless Chromium)",
        "",
        f'From "Run All Cells" (the kernel loading the extension, defining the tasks, walking the 1 001-task '
        f"graph and sending it) to 1 000 SVG nodes drawn: median **{med_total:.2f} s** "
        f"(runs: {', '.join(f'{t:.2f}' for t in totals)}); of which from the widget's element appearing: median "
        f"{med:.2f} s. Goal ≤ 3 s: **{'MET' if med_total <= 3 else 'NOT MET'}** (even counting the kernel's part).",
        "",
    ]
    (HERE / "results_widget.md").write_text("\n".join(lines))
    (HERE / "results_widget.json").write_text(
        json.dumps({"kernel": kernel, "render_s": render, "from_run_all_s": totals}, indent=2)
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
