"""What ``nbpipe run|status|invalidate|enable|history|execute`` and ``%pipeline`` do: the command functions.

Plain functions: each takes parsed values and the streams to write to, and
returns an :class:`Outcome` (exit code and data).  None of them parses
arguments (that is :mod:`nbpipe.cli.subcommands`), so the CLI and the
notebook magics call the same code.  A user mistake raises
:class:`~nbpipe.cmdline_parser.UsageError` with one line; the caller prints
it and exits with :data:`~nbpipe.retcodes.USAGE_ERROR`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, TextIO

from nbpipe import retcodes
from nbpipe.cmdline_parser import RunPlan
from nbpipe.exceptions import ExecutorUnavailable, StateStoreError, UsageError

__all__ = ["Outcome", "run", "status", "invalidate", "clear", "enable", "history", "execute"]


@dataclass
class Outcome:
    """What a command did: the process exit code, and the data it showed (tasks, rows, a run result)."""

    code: int
    data: Any = None


def run(plan: RunPlan, out: TextIO, err: TextIO) -> Outcome:
    """Build the plan's task with a progress display on ``err``; print the summary on ``out``."""
    from nbpipe.cli.progress import ProgressDisplay
    from nbpipe.configuration import option_value
    from nbpipe.driver.run import execute as execute_tasks
    from nbpipe.interface import setup_logging
    from nbpipe.options import CORE_STATE

    setup_logging(plan.log_level)
    typical = None
    if option_value(CORE_STATE):
        from nbpipe.engine.run_context import state_dir
        from nbpipe.state.store import open_store

        def typical(families):
            return open_store(state_dir()).typical_durations(families)

    progress = ProgressDisplay(err, typical_durations=typical, workers=plan.workers)
    try:
        result = execute_tasks([plan.task], observers=[progress], **plan.how())
    except KeyboardInterrupt as exc:
        return _interrupted(exc, out, err)
    except (ValueError, StateStoreError, ExecutorUnavailable) as exc:
        # A bad configured value (ConfigError is a ValueError), no Dask scheduler at the address given...
        raise UsageError(str(exc)) from None
    print(result.summary_text, file=out)
    return Outcome(result.exit_code, result)


def _interrupted(exc: KeyboardInterrupt, out: TextIO, err: TextIO) -> Outcome:
    """Ctrl-C or SIGTERM stopped a run: its summary, then wait for tasks threads still run.

    Their locks are kept until they end, so no other run starts them; a
    second Ctrl-C (or SIGTERM) ends the process at once, and its exit
    releases them.
    """
    import os

    from nbpipe.exceptions import Terminated

    code = retcodes.TERMINATED if isinstance(exc, Terminated) else retcodes.INTERRUPTED
    what = "terminated" if isinstance(exc, Terminated) else "interrupted"
    result = getattr(exc, "result", None)
    if result is not None:
        print(result.summary_text, file=out)
    stragglers = getattr(result, "stragglers", None)
    if stragglers is None:
        print(f"nbpipe run: {what}; every worker was stopped", file=err)
        return Outcome(code, result)
    print(
        f"nbpipe run: {what}; {stragglers.describe()}. Waiting for them to end (their locks are kept "
        "meanwhile); press Ctrl-C again to end the process now",
        file=err,
        flush=True,
    )
    try:
        stragglers.wait()
    except KeyboardInterrupt:
        print(f"nbpipe run: {what} again; ending now (unfinished outputs are never published)", file=err)
        out.flush()
        err.flush()
        os._exit(code)
    print(f"nbpipe run: {what}; the tasks that were still running have ended", file=err)
    return Outcome(code, result)


def status(task: Any, out: TextIO, as_json: bool = False, show_all: bool = False) -> Outcome:
    """TASK's graph: counts per family and state, then the tasks needing attention (``show_all``: every task).

    The data is the TaskStatus list (every task, whatever is printed).
    """
    from nbpipe.cli.status_text import all_lines, summary_lines
    from nbpipe.engine.shown_state import ShownState
    from nbpipe.state.staleness import estimate_seconds
    from nbpipe.state.staleness import status as graph_status

    entries = graph_status(task)
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, default=str), file=out)
        return Outcome(0, entries)
    lines = all_lines(entries) if show_all else summary_lines(entries, "the same command")
    to_run = [e.task for e in entries if e.state in (ShownState.NOT_BUILT, ShownState.FAILED, ShownState.INVALIDATED)]
    if to_run:
        seconds, unknown = estimate_seconds(to_run)
        line = f"{len(to_run)} task(s) would run (stale ones too with --rerun-stale); typical time {seconds:.1f} s"
        if unknown:
            line += f" plus {unknown} task(s) never run here"
        lines.append(line)
    out.write("".join(line + "\n" for line in lines))
    return Outcome(0, entries)


def invalidate(
    task: Any, out: TextIO, downstream: bool = False, within: str | None = None, one_line: bool = False
) -> Outcome:
    """Mark ``task`` (with ``downstream``: and its dependents inside family ``within``'s graph) to be rerun.

    The data is the list of tasks marked.  ``one_line`` lists them on the
    count's line (the notebook's form) instead of one a line.
    """
    from nbpipe.state.staleness import invalidate as mark
    from nbpipe.task_register import TaskClassNotFoundException, get_task_cls

    root = None
    if within:
        try:
            root = get_task_cls(within)()
        except TaskClassNotFoundException as exc:
            raise UsageError(f"--within: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a root needing parameters
            raise UsageError(f"--within {within}: cannot build it with default parameters ({exc})") from None
    try:
        marked = mark(task, downstream=downstream, within=root)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if one_line:
        print(f"marked {len(marked)} task(s) to be rerun: {', '.join(str(t) for t in marked)}", file=out)
    else:
        print(f"marked {len(marked)} task(s) to be rerun (outputs kept until they are replaced):", file=out)
        for marked_task in marked:
            print(f"  {marked_task}", file=out)
    return Outcome(0, marked)


def clear(task: Any, out: TextIO) -> Outcome:
    """Remove the invalidation marks of ``task`` (all marks when None); the data is how many."""
    from nbpipe.state.staleness import clear_invalidations

    count = clear_invalidations(None if task is None else [task])
    print(f"cleared {count} invalidation mark(s)", file=out)
    return Outcome(0, count)


def enable(task: Any, out: TextIO) -> Outcome:
    """Re-enable a task disabled after too many failures; say so when it was not disabled (exit 0 either way)."""
    from nbpipe.state.staleness import enable as re_enable
    from nbpipe.state.staleness import history as recorded
    from nbpipe.state.staleness import store_for_config

    # Failures and disables recorded since the task was last re-enabled.
    since_enabled = store_for_config().failure_history([task.task_id], since=0).get(task.task_id, [])
    if not any(status == "disabled" for _, status in since_enabled):
        last = recorded(task, limit=1)
        if not last:
            was = "it has no attempts recorded here"
        elif last[0]["status"] == "disabled":
            was = "it was re-enabled after it was last disabled"
        else:
            was = f"its last attempt: {last[0]['status']}"
        print(f"{task} is not disabled ({was}); nothing to re-enable", file=out)
        return Outcome(0, None)
    re_enable(task)
    print(f"re-enabled {task}; its earlier failures no longer count", file=out)
    return Outcome(0, task)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def history(
    task: str | None, out: TextIO, err: TextIO, limit: int = 20, as_json: bool = False, with_log: bool = False
) -> Outcome:
    """Recent runs (``task`` None), or the attempts of a task id or family; the data is the rows.

    ``with_log`` adds to the rows of each task's last attempt its ``log``
    (see :meth:`~nbpipe.state.store.StateStore.last_log`), printed under them.
    A name with no attempts recorded is a usage error (exit 2): a typo, or
    another folder's state directory.
    """
    from nbpipe.engine.run_context import state_dir
    from nbpipe.state.staleness import history as recorded
    from nbpipe.state.staleness import store_for_config

    store = store_for_config()
    rows = recorded(task, limit=limit, store=store)
    if with_log:
        _add_logs(rows, store)
    if as_json:
        print(json.dumps(rows, indent=2, default=str), file=out)
        return Outcome(0, rows)
    if task is None:
        for run_row in rows:
            took = f"{run_row['ended'] - run_row['started']:.1f} s" if run_row["ended"] else "running"
            print(
                f"{run_row['run_id']}  {_when(run_row['started'])}  {took:>9}  {run_row['outcome'] or '-':<28} "
                f"{', '.join(run_row['roots'])}",
                file=out,
            )
        return Outcome(0, rows)
    if not rows:
        raise UsageError(
            f"no attempts of a task id or family {task!r} are recorded in {state_dir()}; "
            "check the spelling, or run it from the notebook's folder (nbpipe history NOTEBOOK.ipynb TASK)"
        )
    for row in rows:
        took = f"{row['duration']:.3f} s" if row["duration"] is not None else "-"
        error = f"  {row['error']}" if row["error"] else ""
        print(f"{_when(row['ended'])}  {row['status']:<16} {took:>10}  {row['task_id']}{error}", file=out)
        if "log" in row:
            log = row["log"]
            if log is None:
                print("    (its last attempt logged nothing)", file=out)
                continue
            if log["dropped"]:
                print(f"    ... {log['dropped']} earlier line(s) not kept", file=out)
            for line in log["lines"]:
                print(f"    {line}", file=out)
    return Outcome(0, rows)


def _add_logs(rows: list[dict], store) -> None:
    """Give the row of each task's last attempt listed its log (rows are newest first)."""
    seen: set[str] = set()
    for row in rows:
        if row["task_id"] not in seen:
            seen.add(row["task_id"])
            row["log"] = store.last_log(row["task_id"])


def execute(
    notebook: str,
    parameters: dict[str, Any],
    out: TextIO,
    output: str | None = None,
    junit: str | None = None,
    timeout: float | None = None,
    kernel: str | None = None,
    cwd: str | None = None,
    err: TextIO | None = None,
) -> Outcome:
    """Run every cell of ``notebook`` in a fresh kernel (see :mod:`nbpipe.headless.execute` for the codes)."""
    from nbpipe.headless.execute import execute_notebook

    return Outcome(execute_notebook(notebook, parameters, output, junit, timeout, kernel, cwd, out=out, err=err))
