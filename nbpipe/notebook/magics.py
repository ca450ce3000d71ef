"""``%%pipeline`` and ``%pipeline``: define pipeline tasks in cells, run and inspect them.

    %%pipeline                      run the cell; register (or replace) the task classes it defines
    %pipeline run TASK [--param value ...] [--workers N] [--executor KIND] [--dask-address ADDR]
                  [--rerun-stale] [--background]
    %pipeline show TASK [--param value ...]
    %pipeline invalidate TASK [--param value ...] [--downstream [--within ROOT]] | --clear [TASK ...]
    %pipeline stop
    %pipeline status [TASK [--param value ...] [--json]]
    %pipeline history [TASK_ID | FAMILY] [--limit N] [--json]

Each takes what the ``nbpipe`` command of that name takes, parsed by the same
parser (IPython expands ``{var}`` first); ``%pipeline COMMAND --help`` lists
it.  invalidate, status and history call the CLI's command functions
(:mod:`nbpipe.cli.actions`) and return their data.  Mistakes print one line,
never a traceback.
"""

from __future__ import annotations

import shlex
import sys
import traceback

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from nbpipe import configuration
from nbpipe.exceptions import PipelineMagicError, PipelineUsageError
from nbpipe.headless.protocol import in_headless_run, report_run

__all__ = ["PipelineMagics"]

_COMMANDS = ("run", "show", "invalidate", "stop", "status", "history")


def _widgets_available() -> bool:
    if in_headless_run():
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
            return self._error(
                f"unknown command {words[0]!r}; use one of: {', '.join(_COMMANDS)}"
                if words
                else f"%pipeline needs a command: {', '.join(_COMMANDS)}"
            )
        command, rest = words[0], words[1:]
        with configuration.scoped_overrides():
            return getattr(self, f"_{command}")(rest)

    # -- helpers ------------------------------------------------------------------------------

    def _error(self, message: str, usage: bool = True):
        """Fail the cell with one line: a usage mistake (``nbpipe execute`` exits 2) or another failure (50)."""
        raise (PipelineUsageError if usage else PipelineMagicError)(message)

    def _plan(self, command: str, argv: list[str]):
        """``nbpipe run``'s parsing of ``argv``: a RunPlan, or None after printing the mistake (or the help)."""
        from nbpipe.cli.subcommands import load_notebook, refuse_base_class
        from nbpipe.cmdline_parser import parse_run_arguments
        from nbpipe.configuration import ConfigError
        from nbpipe.exceptions import UsageError

        try:
            plan = parse_run_arguments(argv, f"%pipeline {command}", sys.stdout, load_notebook)
            refuse_base_class(plan.task)
            return plan
        except (UsageError, ConfigError) as exc:
            self._error(str(exc))
        except SystemExit:  # --help printed its text
            pass
        return None

    def _invoke(self, command: str, argv: list[str], one_line: bool = False):
        """Run CLI subcommand ``command`` (same parser, same command function); its data, or None after a mistake."""
        from nbpipe.cli.subcommands import invoke
        from nbpipe.configuration import ConfigError
        from nbpipe.exceptions import StateStoreError, UsageError

        try:
            outcome = invoke(command, argv, sys.stdout, sys.stderr, prog=f"%pipeline {command}", one_line=one_line)
        except (UsageError, ConfigError) as exc:
            return self._error(str(exc))
        except StateStoreError as exc:
            return self._error(str(exc), usage=False)
        except SystemExit:  # --help printed its text
            return None
        return _Printed(outcome.data) if isinstance(outcome.data, list) else None

    # -- %%pipeline -------------------------------------------------------------------------------

    def _define(self, cell: str):
        from nbpipe.task_register import Register

        before = Register.task_classes()
        result = self.shell.run_cell(cell, store_history=False, silent=False)
        self.pipeline_cells.append(cell)
        failure = result.error_before_exec or result.error_in_exec
        if failure is not None:
            # IPython has shown the error with its traceback; the cell must
            # fail too, or the notebook (and `nbpipe execute`) would go on as
            # if the tasks were defined.
            raise PipelineMagicError(
                f"this %%pipeline cell raised {type(failure).__name__}{_line_of(failure)} (traceback above); "
                "the classes after that line are not defined"
            )
        defined = [cls for family, cls in Register.task_classes().items() if before.get(family) is not cls]
        # In the cell's order (a replaced family may sit anywhere in the registry).
        defined.sort(key=lambda cls: (cell.find(f"class {cls.__name__}"), cls.__name__))
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
        try:
            return self._run_plan_here(plan)
        except KeyboardInterrupt as exc:
            # Ctrl-C, the stop button or `nbpipe execute` stopped the run: its summary still counts.
            result = getattr(exc, "result", None)
            if result is not None:
                from nbpipe.notebook.display import RunDisplay

                report_run(result)
                display(RunDisplay(result))
            raise

    def _run_plan_here(self, plan):
        from nbpipe.executors import ExecutorUnavailable
        from nbpipe.state.store import StateStoreError

        if _widgets_available():
            from nbpipe.notebook.widget import DagWidget

            try:
                widget = DagWidget(plan.task, **plan.how())
            except StateStoreError as exc:
                return self._error(str(exc), usage=False)
            widget.show()  # once: returning the widget below shows no second copy
            if plan.background:
                widget.run(background=True)
                self.background.append(widget)
                return widget
            result = widget.run(background=False, show_summary=False)
        else:
            from nbpipe.driver.run import execute

            try:
                result = execute([plan.task], **plan.how())
            except (StateStoreError, ValueError, ExecutorUnavailable) as exc:
                return self._error(str(exc), usage=False)
            if plan.background and not in_headless_run():
                print("pipeline: --background needs a notebook kernel; ran in the foreground")
        if result is not None:
            from nbpipe.notebook.display import RunDisplay

            # A graph that cannot be scheduled (a cycle, requires() raising) is
            # a mistake in the pipeline: say it in one line each.
            for reason in dict.fromkeys(result.summary.scheduling_errors.values()):
                print(f"pipeline: error: {reason.splitlines()[0]}", file=sys.stderr)
            report_run(result)
            display(RunDisplay(result))
            result.shown_by_magic = True  # a bare `%pipeline run` must not show it twice
        return result

    def _show(self, argv: list[str]):
        plan = self._plan("show", argv)
        if plan is None:
            return None
        from nbpipe.notebook.widget import DagWidget
        from nbpipe.state.store import StateStoreError

        try:
            # Every option of the command: the view's Run buttons build as `%pipeline run` would.
            widget = DagWidget(plan.task, **plan.how())
        except StateStoreError as exc:
            return self._error(str(exc), usage=False)
        widget.show()  # once: returning the widget shows no second copy
        return widget

    # -- the rest ----------------------------------------------------------------------------------

    def _invalidate(self, argv: list[str]):
        return self._invoke("invalidate", argv, one_line=True)

    def _stop(self, argv: list[str]):
        running = [w for w in self.background if getattr(w, "running", False)]
        for widget in running:
            widget.stop()
        print(f"pipeline: stopping {len(running)} run(s)" if running else "pipeline: nothing is running")

    def _status(self, argv: list[str]):
        if not argv:
            running = [w for w in self.background if getattr(w, "running", False)]
            print(
                f"pipeline: {len(running)} background run(s) in progress; "
                f"{len(self.pipeline_cells)} %%pipeline cell(s) run"
            )
            return None
        return self._invoke("status", argv)

    def _history(self, argv: list[str]):
        return self._invoke("history", argv)


def _line_of(error: BaseException) -> str:
    """ " at line N" of the ``%%pipeline`` cell (its magic line is line 1) where ``error`` was raised, or ""."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f" at line {error.lineno + 1}"
    frames = traceback.extract_tb(error.__traceback__)
    # The first frame is IPython's exec(); the next one is the cell's own code.
    if len(frames) > 1 and frames[1].lineno:
        return f" at line {frames[1].lineno + 1}"
    return ""


class _Printed(list):
    """A magic's result whose text the magic printed already.

    ``x = %pipeline status`` gets the list; a bare ``%pipeline status`` shows
    the printed table only, not the list's repr after it.
    """

    def _ipython_display_(self) -> None:
        pass
