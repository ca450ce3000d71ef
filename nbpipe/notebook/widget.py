"""The DAG widget (Python side): the graph, live states, and actions from the browser.

``DagWidget`` is an ipywidgets ``DOMWidget`` whose view lives in the
``nbpipe`` JupyterLab extension (``labextension/``).  The kernel sends the
DOT source, the nodes and the edges once, then only ``states`` during a run,
batched so at most ``max_updates_per_second`` reach the browser however
many tasks change.  Clicks arrive as custom messages; every action runs in a
background thread so the kernel stays responsive, and an action naming a
task that is not in the graph this widget sent is refused and logged.
"""

from __future__ import annotations

import logging
import threading
import time

import ipywidgets as widgets
from traitlets import Bool, Dict, List, Unicode

from nbpipe._version import __version__
from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import ShownState, shown_for_event
from nbpipe.notebook.graph import dot_source, graph_data, static_html, static_text
from nbpipe.task import flatten

__all__ = ["DagWidget"]

logger = logging.getLogger("nbpipe")

#: Run-event kinds and the node state each one shows.

_ACTIONS = ("run", "invalidate", "invalidate_downstream", "run_all", "stop")


class DagWidget(widgets.DOMWidget):
    """A live view of a pipeline's graph (see the module docstring)."""

    _model_name = Unicode("DagModel").tag(sync=True)
    _view_name = Unicode("DagView").tag(sync=True)
    _model_module = Unicode("nbpipe").tag(sync=True)
    _view_module = Unicode("nbpipe").tag(sync=True)
    _model_module_version = Unicode(f"^{__version__}", read_only=True).tag(sync=True)
    _view_module_version = Unicode(f"^{__version__}", read_only=True).tag(sync=True)

    dot = Unicode("", help="Graphviz DOT source of the graph; each node's id is its task id").tag(sync=True)
    nodes = Dict(help="task id -> label, family, params, state, reasons, outputs, duration, error, traceback").tag(
        sync=True
    )
    edges = List(help="[requirement id, dependent id] pairs").tag(sync=True)
    states = Dict(help="task id -> state, updated live during a run (batched)").tag(sync=True)
    summary_html = Unicode("", help="HTML summary of the last run").tag(sync=True)
    running = Bool(False, help="True while a run started from this widget is in flight").tag(sync=True)

    def __init__(
        self,
        roots,
        *,
        workers: int = 1,
        executor: str | None = None,
        rerun: str = "missing",
        max_updates_per_second: float = 10.0,
        dask_address: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.roots = flatten(roots)
        self.workers = workers
        self.executor = executor
        self.dask_address = dask_address
        self.rerun = rerun
        self.min_interval = 1.0 / max_updates_per_second
        self.pushes = 0  # how many state batches were sent (for tests and diagnostics)
        self.last_result = None
        self._tasks: dict = {}
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()
        self._last_push = 0.0
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self.on_msg(self._on_front_end_message)
        self.refresh()

    # -- graph ----------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute every node's state (complete / stale / ...) from the outputs and the history."""
        from nbpipe.state.staleness import graph_status

        statuses = list(graph_status(self.roots).values())
        self._tasks = {st.task_id: st.task for st in statuses}
        nodes, edges = graph_data(statuses)
        with self.hold_sync():
            self.nodes = nodes
            self.edges = edges
            self.dot = dot_source(nodes, edges)
            self.states = {tid: node["state"] for tid, node in nodes.items()}

    # -- live updates -------------------------------------------------------------

    def on_run_event(self, event: RunEvent) -> None:
        """A run observer: collects state changes and sends them in batches."""
        state = shown_for_event(event.kind)
        if state is not None and event.task_id:
            with self._lock:
                self._pending[event.task_id] = state.value
        if event.kind == Kind.RUN_FINISHED or time.monotonic() - self._last_push >= self.min_interval:
            self.flush()

    def flush(self) -> None:
        """Send the collected state changes now."""
        with self._lock:
            if not self._pending:
                return
            changes, self._pending = self._pending, {}
            self._last_push = time.monotonic()
        # Reassigning the dict is what makes the change reach the browser.
        self.states = {**self.states, **{k: v for k, v in changes.items() if k in self.nodes or not self.nodes}}
        self.pushes += 1

    # -- actions ----------------------------------------------------------------------

    def run(self, tasks=None, background: bool = True, show_summary: bool = True):
        """Build ``tasks`` (default: the roots) with this widget updating live.

        In the background (default) it returns the thread at once; otherwise
        it returns the :class:`~nbpipe.engine.summary.RunResult`.  ``show_summary``
        puts the run's HTML summary in the widget (the magics show it as an
        output of its own instead, with Luigi's text as the plain form).
        """
        if self.running:
            raise RuntimeError("a run started from this widget is still going; stop it first")
        targets = flatten(tasks) if tasks is not None else self.roots
        self._stop = threading.Event()
        self.running = True
        self.summary_html = ""
        if not background:
            return self._run(targets, show_summary)
        self._thread = threading.Thread(
            target=self._run, args=(targets, show_summary), name="nbpipe-widget-run", daemon=True
        )
        self._thread.start()
        return self._thread

    def _run(self, targets, show_summary: bool = True):
        from nbpipe.driver.run import execute
        from nbpipe.notebook.display import summary_html

        self.last_result = None  # the finally clause below must not use an earlier run's
        try:
            result = execute(
                targets,
                workers=self.workers,
                executor=self.executor,
                rerun=self.rerun,
                observers=[self.on_run_event],
                stop=self._stop,
                dask_address=self.dask_address,
            )
            self.last_result = result
            if show_summary:
                self.summary_html = summary_html(result)
            return result
        except Exception as exc:
            logger.exception("run from the DAG widget failed")
            self.send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
            return None
        finally:
            self.flush()
            self.running = False
            try:
                self.refresh()
                if self.last_result is not None:
                    # "done this run" stays visible until the next refresh, also
                    # for a RunAnywayTarget, which is "missing" once its run is over.
                    ran = {t.task_id for t in self.last_result.summary.categories["completed"]}
                    self.states = {
                        tid: (ShownState.RAN.value if tid in ran else state) for tid, state in self.states.items()
                    }
            except Exception:
                logger.exception("refreshing the DAG widget failed")

    def stop(self) -> None:
        """Stop a run started from this widget (running tasks are killed, outputs stay atomic)."""
        if self._stop is not None:
            self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background run started from this widget has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _on_front_end_message(self, widget, content, buffers) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        task_id = content.get("task_id") if isinstance(content, dict) else None
        if action not in _ACTIONS:
            self._refuse(task_id, f"unknown action {action!r}")
            return
        if action in ("run", "invalidate", "invalidate_downstream") and task_id not in self._tasks:
            self._refuse(task_id, "not a task of this graph")
            return
        threading.Thread(target=self._act, args=(action, task_id), name="nbpipe-widget-action", daemon=True).start()

    def _refuse(self, task_id, reason: str) -> None:
        logger.warning("DAG widget refused an action for %r: %s", task_id, reason)
        self.send({"event": "refused", "task_id": task_id, "reason": reason})

    def _act(self, action: str, task_id: str | None) -> None:
        from nbpipe.state.staleness import invalidate

        try:
            if action == "stop":
                self.stop()
            elif action == "run_all":
                self.run(background=False)
            elif action == "run":
                self.run(self._tasks[task_id], background=False)
            else:
                invalidate(self._tasks[task_id], downstream=action == "invalidate_downstream", within=self.roots)
                self.refresh()
        except Exception as exc:
            logger.exception("DAG widget action %s failed", action)
            self.send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})

    # -- without the front end ------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = static_text(self.nodes)
        bundle["text/html"] = static_html(self.nodes)
        return bundle
