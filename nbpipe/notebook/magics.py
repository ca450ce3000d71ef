"""``%%pipeline`` and ``%pipeline``: define pipeline tasks in cells, run and inspect them.

    %%pipeline                      run the cell; register (or replace) the task classes it defines
    %pipeline run TASK [--param value ...] [--workers N] [--executor KIND] [--dask-address ADDR]
                  [--rerun-stale] [--background]
    %pipeline show TASK [--param value ...]
    %pipeline invalidate TASK [--param value ...] [--downstream [--within ROOT]]
    %pipeline stop
    %pipeline status [TASK ...]
    %pipeline history [TASK_ID | FAMILY]

Task parameters parse as on the command line (IPython expands ``{var}``
first).  Mistakes print one line, never a traceback.
"""

from __future__ import annotations

import shlex
import sys

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

__all__ = ["PipelineMagics"]

_COMMANDS = ("run", "show", "invalidate", "stop", "status", "history")


def _headless() -> bool:
    """Inside ``nbpipe execute``: show text, and wait for background runs."""
    import os

    return os.environ.get("NBPIPE_HEADLESS") == "1"


def _report(result) -> None:
    """Inside ``nbpipe execute``: hand the run's outcome to it (one JSON line)."""
    import json
    import os

    path = os.environ.get("NBPIPE_REPORT")
    if not path:
        return
    summary = result.summary
    objects = {t.task_id: t for tasks in summary.categories.values() for t in tasks}
    category_of = {}
    for category, tasks in summary.categories.items():
        if category in ("ever_failed", "disabled", "still_pending_not_ext"):
            continue  # aggregates: each task also sits in a more precise category
        for t in tasks:
            category_of.setdefault(t.task_id, category)
    tasks = []
    for task_id, task in objects.items():
        status = category_of.get(task_id, "not_run")
        entry = {"task_id": task_id, "name": str(task), "family": task.get_task_family(), "status": status,
                 "duration": summary.durations.get(task_id)}
        if status == "failed":
            text = summary.failures.get(task_id, "")
            entry["message"] = text.splitlines()[0] if text else "failed"
            entry["details"] = text
        elif status == "scheduling_error":
            text = summary.scheduling_errors.get(task_id, "")
            entry["message"] = text.splitlines()[0] if text else ""
            entry["details"] = text
        tasks.append(entry)
    record = {"summary_text": result.summary_text, "status": result.status.name, "exit_code": result.exit_code,
              "completed": summary.task_ids("completed"), "failed": summary.task_ids("failed"), "tasks": tasks}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _widgets_available() -> bool:
    if _headless():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    # A kernel (ZMQ) can show widgets; a terminal IPython cannot.
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell" and hasattr(shell, "kernel")


class _Defined:
    """The confirmation shown under a ``%%pipeline`` cell."""

    def __init__(self, classes: list):
        self.classes = classes

    def _describe(self, cls) -> str:
        names = [name for name, _ in cls.get_params()]
        return f"{cls.get_task_family()}({', '.join(names)})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        import html

        if not self.classes:
            text = "pipeline: no task classes defined in this cell"
            return {"text/plain": text, "text/html": f"<small>{html.escape(text)}</small>"}
        items = ", ".join(self._describe(c) for c in self.classes)
        text = f"pipeline: {len(self.classes)} task class(es) defined: {items}"
        chips = " ".join(f"<code>{html.escape(self._describe(c))}</code>" for c in self.classes)
        return {"text/plain": text, "text/html": f"<small>pipeline: {chips}</small>"}


class _DropSchedulingFailures:
    """A logging filter for the engine's scheduling-failure records."""

    def filter(self, record) -> bool:
        return getattr(record, "nbpipe_event", None) != "scheduling_failed"


@magics_class
class PipelineMagics(Magics):
    """The magics registered by ``%load_ext nbpipe``."""

    def __init__(self, shell):
        super().__init__(shell)
        #: The sources of the %%pipeline cells run so far, in order (the notebook's pipeline module).
        self.pipeline_cells: list[str] = []
        self.background: list = []  # widgets (or runs) started with --background

    @magic_arguments()
    @argument("command", nargs="?", help="run | show | invalidate | stop | status | history (line magic)")
    @argument("rest", nargs="*", help="the task and its parameters, and options")
    @line_cell_magic
    def pipeline(self, line: str, cell: str | None = None):
        """Define pipeline tasks (cell magic) or run and inspect them (line magic); see the module docs."""
        if cell is not None:
            return self._define(cell)
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return self._error(f"cannot read the command line: {exc}")
        if not words or words[0] not in _COMMANDS:
            parse_argstring(self.pipeline, "")  # keeps magic_arguments' help accurate
            return self._error(f"unknown command {words[0]!r}; use one of: {', '.join(_COMMANDS)}" if words
                               else f"%pipeline needs a command: {', '.join(_COMMANDS)}")
        command, rest = words[0], words[1:]
        return getattr(self, f"_{command}")(rest)

    # -- helpers ------------------------------------------------------------------------------

    def _error(self, message: str) -> None:
        print(f"pipeline: error: {message}", file=sys.stderr)

    def _plan(self, command: str, argv: list[str]):
        from nbpipe.cli.commands import UsageError, parse_run_arguments
        from nbpipe.configuration import ConfigError

        try:
            return parse_run_arguments(argv)
        except (UsageError, ConfigError) as exc:
            self._error(str(exc))
        except SystemExit:  # --help printed its text
            pass
        return None

    # -- %%pipeline -------------------------------------------------------------------------------

    def _define(self, cell: str):
        from nbpipe.task_register import Register

        before = dict(Register._by_family)
        result = self.shell.run_cell(cell, store_history=False, silent=False)
        self.pipeline_cells.append(cell)
        if not result.success:
            return None  # IPython has shown the error with its line
        defined = [cls for family, cls in Register._by_family.items() if before.get(family) is not cls]
        display(_Defined(defined))
        return None

    # -- %pipeline run / show ---------------------------------------------------------------------

    def _run(self, argv: list[str]):
        plan = self._plan("run", argv)
        if plan is None:
            return None
        import logging

        # Scheduling failures are printed below as one line each, after the
        # run; the engine's own log line for them would say it twice.
        nb_logger = logging.getLogger("nbpipe")
        quiet = _DropSchedulingFailures()
        nb_logger.addFilter(quiet)
        try:
            return self._run_plan(plan)
        finally:
            nb_logger.removeFilter(quiet)

    def _run_plan(self, plan):
        from nbpipe.executors import ExecutorUnavailable
        from nbpipe.state.store import StateStoreError

        if _widgets_available():
            from nbpipe.notebook.widget import DagWidget

            try:
                widget = DagWidget(plan.task, workers=plan.workers, executor=plan.executor, rerun=plan.rerun,
                                   dask_address=plan.dask_address)
            except StateStoreError as exc:
                return self._error(str(exc))
            display(widget)
            if plan.background:
                widget.run(background=True)
                self.background.append(widget)
                return widget
            result = widget.run(background=False, show_summary=False)
        else:
            from nbpipe.engine.run_loop import execute

            try:
                result = execute([plan.task], workers=plan.workers, executor=plan.executor, rerun=plan.rerun,
                                 dask_address=plan.dask_address)
            except (StateStoreError, ValueError, ExecutorUnavailable) as exc:
                return self._error(str(exc))
            if plan.background and not _headless():
                print("pipeline: --background needs a notebook kernel; ran in the foreground")
        if result is not None:
            from nbpipe.notebook.display import RunDisplay

            # A graph that cannot be scheduled (a cycle, requires() raising) is
            # a mistake in the pipeline: say it in one line each.
            for reason in dict.fromkeys(result.summary.scheduling_errors.values()):
                self._error(reason.splitlines()[0])
            _report(result)
            display(RunDisplay(result))
            result.shown_by_magic = True  # a bare `%pipeline run` must not show it twice
        return result

    def _show(self, argv: list[str]):
        plan = self._plan("show", argv)
        if plan is None:
            return None
        from nbpipe.notebook.widget import DagWidget

        widget = DagWidget(plan.task, workers=plan.workers, executor=plan.executor)
        display(widget)
        return widget

    # -- the rest ----------------------------------------------------------------------------------

    def _invalidate(self, argv: list[str]):
        from nbpipe.task_register import TaskClassNotFoundException, get_task_cls
        from nbpipe.state.staleness import invalidate

        plan = self._plan("invalidate", argv)
        if plan is None:
            return None
        within = None
        if plan.within:
            try:
                within = get_task_cls(plan.within)()
            except TaskClassNotFoundException as exc:
                return self._error(f"--within: {exc}")
            except Exception as exc:  # noqa: BLE001
                return self._error(f"--within {plan.within}: cannot build it with default parameters ({exc})")
        try:
            marked = invalidate(plan.task, downstream=plan.downstream, within=within)
        except ValueError as exc:
            return self._error(str(exc))
        print(f"marked {len(marked)} task(s) to be rerun: {', '.join(str(t) for t in marked)}")
        return _Printed(marked)

    def _stop(self, argv: list[str]):
        running = [w for w in self.background if getattr(w, "running", False)]
        for widget in running:
            widget.stop()
        print(f"pipeline: stopping {len(running)} run(s)" if running else "pipeline: nothing is running")

    def _status(self, argv: list[str]):
        if not argv:
            running = [w for w in self.background if getattr(w, "running", False)]
            print(f"pipeline: {len(running)} background run(s) in progress; "
                  f"{len(self.pipeline_cells)} %%pipeline cell(s) run")
            return None
        plan = self._plan("status", argv)
        if plan is None:
            return None
        from nbpipe.state.staleness import status
        from nbpipe.notebook.graph import graph_data, static_text

        entries = status(plan.task)
        nodes, _ = graph_data(entries)
        print(static_text(nodes))
        return _Printed(entries)

    def _history(self, argv: list[str]):
        from nbpipe.state.staleness import history

        rows = history(argv[0] if argv else None, limit=20)
        for row in rows:
            if "run_id" in row and "roots" in row:
                print(f"{row['run_id']}  {row['outcome'] or 'running'}  {', '.join(row['roots'])}")
            else:
                print(f"{row['status']:<16} {row['task_id']}  {row['error'] or ''}".rstrip())
        return _Printed(rows)


class _Printed(list):
    """A magic's result whose text the magic printed already.

    ``x = %pipeline status`` gets the list; a bare ``%pipeline status`` shows
    the printed table only, not the list's repr after it.
    """

    def _ipython_display_(self) -> None:
        pass
