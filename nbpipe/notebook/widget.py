"""The DAG widget (Python side): the graph, live states, and actions from the browser.

``DagWidget`` is an ``anywidget.AnyWidget``: its view is one ES module
(``static/dag_view.js``, bundled by esbuild from ``labextension/src``) that
travels from the kernel as the ``_esm`` trait, so every front end with
anywidget — JupyterLab, Notebook 7, Voilà, VS Code, Colab, an HTML page on
``@jupyter-widgets/html-manager`` — shows it with no extension of its own.
Graphviz is not in that module: every DAG widget refers (``layout_engine``,
an ipywidgets widget reference) to the kernel's one
:class:`~nbpipe.notebook.frontend.LayoutEngine`, which carries it.

The kernel sends the DOT source, the nodes and the edges once, then only
what changed in ``states`` (and the ``details`` of tasks that ended) during
a run: a custom message ``{"event": "states", "states": {...}, "details":
{...}}`` that the page lays over its copy of the two traits.  The traits are kept current in
the kernel without being sent whole each time (10 000 states re-sent ten
times a second kept the page's main thread busy), so a page that loads the
widget later gets them as they are.  Changes are batched: at most
one batch per ``1 / max_updates_per_second`` seconds reaches the browser
however many tasks change, and a change held back by that limit is sent by a
timer when the interval is over, so the last changes before a quiet period
(a task starting, then running for minutes) are never left behind.

Clicks arrive as custom messages, checked strictly (a dict of ``action``
and, for task actions, a string ``task_id``; for ``preview`` also the
``index`` of an output; nothing else) and answered with
``{"event": "refused", ...}`` when malformed; every action runs in a
background thread so the kernel stays responsive, and runs start under a
lock, so two quick clicks never start two runs.  ``outputs`` is answered
with ``{"event": "outputs", "task_id", "outputs": [{path, size, mtime,
exists}, ...]}`` (the view also shows an optional ``log``: null, or
``{"lines": [...], "truncated": bool, "status": str}`` of the task's last
attempt, under the outputs) and ``preview`` with ``{"event": "preview",
"task_id", "index", "preview": {...}}`` (made by :mod:`nbpipe.notebook.previews`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import anywidget
import ipywidgets as widgets
from traitlets import Bool, Dict, Instance, List, Unicode

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import ShownState, shown_for_event
from nbpipe.notebook import frontend
from nbpipe.notebook.graph import (
    dot_source,
    event_details,
    graph_data,
    static_html,
    static_text,
    upstream_failure_reason,
)
from nbpipe.notebook.static_view import static_dag_html
from nbpipe.task import flatten

__all__ = ["DagWidget"]

logger = logging.getLogger("nbpipe")

#: Actions the front end may ask for; these name a task (``preview`` also an output's index).
_TASK_ACTIONS = ("run", "invalidate", "invalidate_downstream", "outputs", "preview")
_ACTIONS = (*_TASK_ACTIONS, "run_all", "stop")
_MESSAGE_KEYS = frozenset({"action", "task_id", "index"})


class DagWidget(anywidget.AnyWidget):
    """A live view of a pipeline's graph (see the module docstring)."""

    _esm = frontend.built_file_text("dag_view.js", frontend.NOT_BUILT_ESM)
    _css = frontend.built_file_text("dag_view.css")

    layout_engine = Instance(
        frontend.LayoutEngine,
        allow_none=True,
        help="the kernel's shared model carrying Graphviz (None only without a built front end)",
    ).tag(sync=True, **widgets.widget_serialization)
    dot = Unicode("", help="Graphviz DOT source of the graph; each node's id is its task id").tag(sync=True)
    nodes = Dict(help="task id -> label, family, params, state, reasons, outputs, duration, error, traceback").tag(
        sync=True
    )
    edges = List(help="[requirement id, dependent id] pairs").tag(sync=True)
    states = Dict(help="task id -> state, updated live during a run (batched)").tag(sync=True)
    details = Dict(
        help="task id -> the fields of its `nodes` entry that changed during the current run "
        "(reasons, duration, error, traceback); sent with the states, emptied when `nodes` is refreshed"
    ).tag(sync=True)
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
        if "layout_engine" not in kwargs:
            try:
                kwargs["layout_engine"] = frontend.layout_engine()
            except FileNotFoundError:
                logger.warning("the nbpipe DAG view is not built; notebooks show its text and static forms")
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
        self._deps: dict[str, list[str]] = {}
        self._store_states: dict[str, str] = {}  # the states the state store gave at the last refresh
        self._pending: dict[str, str] = {}
        self._pending_details: dict[str, dict] = {}
        self._run_states: dict[str, str] = {}  # every task's last shown state in the current run
        self._run_details: dict[str, dict] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()  # guards the pending changes and the timer
        self._send_lock = threading.Lock()  # one read-modify-write of the traits at a time
        self._run_lock = threading.Lock()  # held for the whole of a run: one run at a time
        self._timer: threading.Timer | None = None
        self._delta_keys: set[str] = set()  # traits changed by deltas since they were last synced whole
        self._last_push = 0.0
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._display_id = uuid.uuid4().hex
        self._shown_in: int | None = None  # the execution count of the cell show() displayed it in
        self._shown = False  # displayed at least once: there are outputs to update
        self.on_msg(self._on_front_end_message)
        self._update_from_store()

    # -- graph ----------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute the nodes from the outputs and the history; only nodes whose stored state changed change.

        A task shown "ran" (in the last run) stays so while the store still
        says what it said before: an action on one branch leaves the rest of
        the graph as it was.
        """
        self._update_from_store(keep_unchanged=True)
        self._update_static_views()

    def _update_from_store(self, keep_unchanged: bool = False, run_states: dict[str, str] | None = None) -> None:
        from nbpipe.state.staleness import graph_status

        statuses = list(graph_status(self.roots).values())
        nodes, edges = graph_data(statuses)
        store_states = {tid: node["state"] for tid, node in nodes.items()}
        states = dict(store_states)
        if keep_unchanged:
            shown = self.states
            for tid, state in store_states.items():
                if self._store_states.get(tid) == state and tid in shown:
                    states[tid] = shown[tid]
        for tid, state in (run_states or {}).items():
            if tid not in nodes:
                continue
            if state == ShownState.RAN:
                # "ran in this run" stays until the next refresh, also for a
                # RunAnywayTarget, which is "not built" once its run is over.
                states[tid] = state
            elif state == ShownState.UPSTREAM_FAILED and store_states[tid] == ShownState.NOT_BUILT:
                states[tid] = state
                nodes[tid]["reasons"] = [upstream_failure_reason(tid, self._deps, run_states, nodes)]
        with self._send_lock:
            self._tasks = {st.task_id: st.task for st in statuses}
            self._deps = {st.task_id: list(st.deps) for st in statuses}
            self._store_states = store_states
            # Live deltas changed `states`/`details` in the kernel without syncing them: an assignment that
            # leaves them as they are sends nothing, so they are sent here. Otherwise a widget state kept
            # from the kernel's messages (nbclient's, in an executed notebook) would end as the run began.
            behind = [k for k in self._delta_keys if getattr(self, k) == (states if k == "states" else {})]
            with self.hold_sync():
                self.nodes = nodes
                self.edges = edges
                self.dot = dot_source(nodes, edges)
                self.states = states
                self.details = {}
            if behind and self.comm is not None:
                self.send_state(behind)
            self._delta_keys = set()

    # -- live updates -------------------------------------------------------------

    #: Traits assigned in the kernel without being synced (their changes travel as deltas).
    _unsynced: frozenset[str] = frozenset()

    def _should_send_property(self, key, value):  # ipywidgets' hook deciding whether a change is synced
        return key not in self._unsynced and super()._should_send_property(key, value)

    def on_run_event(self, event: RunEvent) -> None:
        """A run observer: collects state changes and sends them in batches (see the module docstring)."""
        state = shown_for_event(event.kind)
        finished = event.kind == Kind.RUN_FINISHED
        if state is None and not finished:
            return
        with self._lock:
            tid = event.task_id
            if state is not None and tid:
                self._pending[tid] = state.value
                self._run_states[tid] = state.value
                if event.kind == Kind.RUNNING:
                    self._started[tid] = event.time
                details = event_details(event, self._started.get(tid), self._deps, self._run_states, self.nodes)
                if details is not None:
                    self._pending_details[tid] = details
                    self._run_details[tid] = details
            wait = self._last_push + self.min_interval - time.monotonic()
            if not finished and wait > 0:
                if self._timer is None:
                    # The interval is not over: a timer sends what is held back when it is.
                    self._timer = threading.Timer(wait, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def flush(self) -> None:
        """Send the collected state changes now (also the timer's job when the interval is over)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._pending and not self._pending_details:
                return
            changes, self._pending = self._pending, {}
            details, self._pending_details = self._pending_details, {}
            self._last_push = time.monotonic()
        with self._send_lock:
            known = self.nodes
            keep = (lambda k: k in known) if known else (lambda k: True)
            changes = {k: v for k, v in changes.items() if keep(k)}
            details = {k: v for k, v in details.items() if keep(k)}
            # The traits change in the kernel (observers see it, a page loading later gets them) while
            # only the delta goes to the page.
            self._unsynced = frozenset({"states", "details"})
            try:
                if changes:
                    self.states = {**self.states, **changes}
                if details:
                    self.details = {**self.details, **details}
            finally:
                self._unsynced = frozenset()
            self.send({"event": "states", "states": changes, "details": details})
            self._delta_keys.update(k for k, v in (("states", changes), ("details", details)) if v)
            self.pushes += 1

    # -- actions ----------------------------------------------------------------------

    def run(self, tasks=None, background: bool = True, show_summary: bool = True):
        """Build ``tasks`` (default: the roots) with this widget updating live.

        In the background (default) it returns the thread at once; otherwise
        it returns the :class:`~nbpipe.engine.summary.RunResult`.  ``show_summary``
        puts the run's HTML summary in the widget (the magics show it as an
        output of its own instead, with Luigi's text as the plain form).
        Raises ``RuntimeError`` when a run started from this widget is still
        going (checked and claimed under one lock).
        """
        if not self._run_lock.acquire(blocking=False):
            raise RuntimeError("a run started from this widget is still going; stop it first")
        try:
            targets = flatten(tasks) if tasks is not None else self.roots
            self._stop = threading.Event()
            with self._lock:
                self._run_states, self._run_details, self._started = {}, {}, {}
            self.running = True
            self.summary_html = ""
            if background:
                self._thread = threading.Thread(
                    target=self._run, args=(targets, show_summary), name="nbpipe-widget-run", daemon=True
                )
                self._thread.start()
                return self._thread
        except BaseException:
            self.running = False
            self._run_lock.release()
            raise
        return self._run(targets, show_summary)

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
            result.drawn_by_widget = True  # its summary need not draw the graph again
            if show_summary:
                self.summary_html = summary_html(result)
            return result
        except Exception as exc:
            logger.exception("run from the DAG widget failed")
            self.send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
            return None
        finally:
            self.flush()
            try:
                with self._lock:
                    run_states = dict(self._run_states)
                self._update_from_store(run_states=run_states)
                self._update_static_views()
            except Exception:
                logger.exception("refreshing the DAG widget failed")
            finally:
                self.running = False
                self._run_lock.release()

    def stop(self) -> None:
        """Stop a run started from this widget (running tasks are killed, outputs stay atomic)."""
        if self._stop is not None:
            self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background run started from this widget has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _on_front_end_message(self, widget, content, buffers) -> None:
        problem = self._check_message(content)
        if problem is not None:
            task_id = content.get("task_id") if isinstance(content, dict) else None
            self._refuse(task_id if isinstance(task_id, str) else None, problem)
            return
        action, task_id = content["action"], content.get("task_id")
        if action in ("run", "run_all") and self._run_lock.locked():
            self._refuse(task_id, "a run started from this widget is still going")
            return
        if action in ("outputs", "preview"):  # reads files only: answered even while a run goes on
            worker = threading.Thread(
                target=self._answer_outputs,
                args=(action, task_id, content.get("index")),
                name="nbpipe-widget-preview",
                daemon=True,
            )
        else:
            worker = threading.Thread(
                target=self._act, args=(action, task_id), name="nbpipe-widget-action", daemon=True
            )
        worker.start()

    def _check_message(self, content) -> str | None:
        """Why the front-end message ``content`` is refused, or None when it is a well-formed action."""
        if not isinstance(content, dict):
            return f"an action message is a dict, not {type(content).__name__}"
        unknown = sorted(str(k) for k in content if k not in _MESSAGE_KEYS)
        if unknown:
            return f"unknown key(s) in the action message: {', '.join(unknown)}"
        action = content.get("action")
        if not isinstance(action, str) or action not in _ACTIONS:
            return f"unknown action {action!r}"
        task_id = content.get("task_id")
        if action in _TASK_ACTIONS:
            if not isinstance(task_id, str):
                return f"action {action!r} needs a task id (a string), not {type(task_id).__name__}"
            if task_id not in self._tasks:
                return "not a task of this graph"
        elif task_id is not None:
            return f"action {action!r} takes no task id"
        index = content.get("index")
        if action != "preview":
            return None if "index" not in content else f"action {action!r} takes no index"
        if not isinstance(index, int) or isinstance(index, bool):
            return f"action 'preview' needs the index of an output (an integer), not {type(index).__name__}"
        count = len(self._outputs_of(task_id))
        if not 0 <= index < count:
            return f"the task has {count} output(s): there is no output number {index}"
        return None

    def _outputs_of(self, task_id) -> list:
        """The output targets of a task of this graph ([] when its ``output()`` raises)."""
        try:
            return flatten(self._tasks[task_id].output())
        except Exception:  # noqa: BLE001 - a broken output() has nothing to preview
            return []

    def _answer_outputs(self, action: str, task_id: str, index: int | None) -> None:
        """Send where each output of a task is, or a preview of one (``action`` "outputs" or "preview")."""
        from nbpipe.notebook.previews import describe_output, preview_output

        try:
            outputs = self._outputs_of(task_id)
            if action == "outputs":
                described = [describe_output(t) for t in outputs]
                self.send({"event": "outputs", "task_id": task_id, "outputs": described, "log": _last_log(task_id)})
            else:
                assert index is not None
                preview = preview_output(outputs[index])
                self.send({"event": "preview", "task_id": task_id, "index": index, "preview": preview})
        except Exception as exc:
            logger.exception("DAG widget %s of %s failed", action, task_id)
            self.send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})

    def _refuse(self, task_id: str | None, reason: str) -> None:
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
        except RuntimeError as exc:  # the run lock was taken between the check and the start
            self._refuse(task_id, str(exc))
        except Exception as exc:
            logger.exception("DAG widget action %s failed", action)
            self.send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})

    # -- display ------------------------------------------------------------------------

    def show(self) -> None:
        """Display the widget in the current cell, so that returning it from the same cell shows no second copy.

        Every output of this widget shares one display id: after a run or an
        action, the static forms (for front ends without a widget manager and
        for HTML exports) are updated in place to tell how the graph ended.
        """
        from IPython import get_ipython
        from IPython.display import publish_display_data

        publish_display_data(self._mimebundle(), transient={"display_id": self._display_id})
        self._shown = True
        self._shown_in = getattr(get_ipython(), "execution_count", None)

    def _ipython_display_(self) -> None:
        """``display(w)`` and a cell's value: one output, unless :meth:`show` already showed it in this cell."""
        from IPython import get_ipython
        from IPython.display import publish_display_data

        if self._shown_in is not None and self._shown_in == getattr(get_ipython(), "execution_count", None):
            self._shown_in = None
            return
        publish_display_data(self._mimebundle(), transient={"display_id": self._display_id})
        self._shown = True

    def _update_static_views(self) -> None:
        """Replace every output of this widget with its current bundle (the static forms tell the final truth)."""
        from IPython.display import publish_display_data

        if self._shown:
            publish_display_data(self._mimebundle(), transient={"display_id": self._display_id}, update=True)

    def _mimebundle(self) -> dict:
        shown = super()._repr_mimebundle_()  # anywidget's is (data, metadata)
        bundle = dict((shown[0] if isinstance(shown, tuple) else shown) or {})
        bundle["text/plain"] = static_text(self.nodes, self.states)
        bundle["text/html"] = static_dag_html(
            self.nodes, self.edges, self.states, table=static_html(self.nodes, self.states)
        )
        return bundle

    def _repr_mimebundle_(self, **kwargs):
        return self._mimebundle()


def _last_log(task_id: str) -> dict | None:
    """The task's log lines from its last attempt, as the view shows them (None: none kept)."""
    from nbpipe.configuration import option_value
    from nbpipe.exceptions import StateStoreError
    from nbpipe.options import CORE_STATE
    from nbpipe.state.staleness import store_for_config

    if not option_value(CORE_STATE):
        return None
    try:
        log = store_for_config().last_log(task_id)
    except StateStoreError:  # no history here (state off, or unreadable): no log to show
        return None
    if log is None:
        return None
    return {"lines": log["lines"], "truncated": log["dropped"] > 0, "status": log["status"]}
