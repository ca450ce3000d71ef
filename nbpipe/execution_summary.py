"""Luigi's ``luigi.execution_summary``: the summary of what a :class:`~nbpipe.worker.Worker` did.

:func:`_summary_dict` sorts the tasks a worker reported into Luigi's
categories from the worker's own records, as Luigi does: the statuses it
sent with ``add_task`` (``completed``, ``already_done``, ``failed``,
``scheduling_error``, ``still_pending_*``), the ``get_work`` answers that
named tasks other workers were running (``run_by_other_worker``), and a
walk over the pending tasks' requirements for why they stayed pending
(``upstream_*``, ``not_run``).  :func:`summary` lays the categories out
with nbpipe's renderer of Luigi's text (:mod:`nbpipe.engine.summary_text`)
under Luigi's title, ``===== Luigi Execution Summary =====``: this is the
summary of Luigi's worker protocol.  nbpipe's own runs (``nbpipe.build``,
``nbpipe run``) summarise their events with :mod:`nbpipe.engine.summary`
under nbpipe's title.
"""

from __future__ import annotations

from typing import Any

from nbpipe.engine.categorise import CATEGORIES
from nbpipe.engine.summary import (
    TITLE,
    LuigiStatusCode,
    RunResult,
    StatusCode,
    Summary,
    one_line_summary,
    strip_summary_title,
    summarize,
)
from nbpipe.engine.summary_text import render_summary
from nbpipe.parameter import IntParameter
from nbpipe.task import Config

#: Luigi's name for what ``build(..., detailed_summary=True)`` returns.
LuigiRunResult = RunResult

#: The title lines of the summary of a :class:`~nbpipe.worker.Worker`'s run.
WORKER_TITLE = "===== Luigi Execution Summary ====="


class execution_summary(Config):
    """``[execution_summary]``: ``summary_length``, the task families listed per category (0: all)."""

    _visible_in_registry = False  # an engine section, not a task to run
    _options_on_command_line = True  # --section-option, as Luigi's command line takes them
    summary_length = IntParameter(default=5)


def _partition_tasks(worker: Any) -> dict[str, set]:
    """Luigi's categories from the statuses ``worker`` reported (the walk-dependent ones empty)."""
    history = list(getattr(worker, "_add_task_history", ()))
    pending = {task for task, status, _ in history if status == "PENDING"}
    sets: dict[str, set] = {}
    sets["completed"] = {task for task, status, _ in history if status == "DONE" and task in pending}
    sets["already_done"] = {
        task
        for task, status, _ in history
        if status == "DONE" and task not in pending and task not in sets["completed"]
    }
    sets["ever_failed"] = {task for task, status, _ in history if status == "FAILED"}
    sets["failed"] = sets["ever_failed"] - sets["completed"]
    sets["scheduling_error"] = {task for task, status, _ in history if status == "UNKNOWN"}
    left = {
        (task, bool(runnable))
        for task, status, runnable in history
        if status == "PENDING" and task not in sets["ever_failed"] and task not in sets["completed"]
    }
    # Luigi's split: pending and not runnable is missing external data.
    sets["still_pending_ext"] = {task for task, runnable in left if not runnable}
    sets["still_pending_not_ext"] = {task for task, runnable in left if runnable}
    for name in CATEGORIES[CATEGORIES.index("run_by_other_worker") :]:  # filled below from the dependencies
        sets[name] = set()
    return sets


def _external_workers(worker: Any) -> dict[str, set]:
    """Each other worker that ``get_work`` said was running one of this worker's tasks, with those tasks."""
    blocked: dict[str, set] = {}
    scheduled = getattr(worker, "_scheduled_tasks", {})
    for reply in getattr(worker, "_get_work_response_history", ()):
        if reply["task_id"] is not None:
            continue
        for running in reply["running_tasks"]:
            other, task = running["worker"], scheduled.get(running["task_id"])
            if other != getattr(worker, "_id", None) and task is not None:
                blocked.setdefault(other, set()).add(task)
    return blocked


def _populate_unknown_statuses(sets: dict[str, set]) -> None:
    """Why each runnable pending task stayed pending: a depth-first walk over requirements, as Luigi's."""
    visited: set = set()
    for task in sorted(sets["still_pending_not_ext"], key=str):
        if task not in visited:
            _why_pending(sets, task, visited)


def _why_pending(sets: dict[str, set], start: Any, visited: set) -> None:
    # Iterative: each frame is (task, its requirements, index of the next one).
    visited.add(start)
    stack = [(start, _requirements(start), [0])]
    while stack:
        task, reqs, index = stack[-1]
        if task not in sets["still_pending_not_ext"]:
            stack.pop()
            continue
        if index[0] < len(reqs):
            dep = reqs[index[0]]
            if dep not in visited:
                visited.add(dep)
                stack.append((dep, _requirements(dep), [0]))
                continue
            index[0] += 1
            continue
        stack.pop()
        found = False
        for dep in reqs:
            for upstream, causes in (
                ("upstream_failure", ("ever_failed", "upstream_failure")),
                ("upstream_missing_dependency", ("still_pending_ext", "upstream_missing_dependency")),
                ("upstream_run_by_other_worker", ("run_by_other_worker", "upstream_run_by_other_worker")),
                ("upstream_scheduling_error", ("scheduling_error",)),
            ):
                if any(dep in sets[cause] for cause in causes):
                    sets[upstream].add(task)
                    found = True
        if not found and task not in sets["run_by_other_worker"]:
            sets["not_run"].add(task)


def _requirements(task: Any) -> list:
    from nbpipe.task import flatten

    try:
        return flatten(task._requires())
    except Exception:  # noqa: BLE001 - already reported as a scheduling error
        return []


def _summary_dict(worker: Any) -> dict[str, set]:
    """Luigi's categories of what ``worker`` (a :class:`nbpipe.worker.Worker`) did, each a set of tasks."""
    sets = _partition_tasks(worker)
    for tasks in _external_workers(worker).values():
        sets["run_by_other_worker"] |= tasks
    _populate_unknown_statuses(sets)
    return sets


def _status(sets: dict[str, set]) -> StatusCode:
    from nbpipe.engine.status_codes import status_of

    return status_of({name: sorted(tasks, key=str) for name, tasks in sets.items()})


def summary(worker: Any) -> str:
    """Luigi's execution summary text of what ``worker`` did, between two ``Luigi Execution Summary`` lines."""
    sets = _summary_dict(worker)
    cats = {name: sorted(tasks, key=str) for name, tasks in sets.items()}
    others = {name: sorted(tasks, key=str) for name, tasks in sorted(_external_workers(worker).items())}
    body = render_summary(cats, others, _status(sets), execution_summary().summary_length)
    return f"\n{WORKER_TITLE}\n\n{body}\n\n{WORKER_TITLE}\n"


class WorkerRunResult:
    """Luigi's ``LuigiRunResult(worker, worker_add_run_status)``: a worker's run, as ``build`` returns it.

    ``status`` follows Luigi's rule over :func:`_summary_dict`;
    ``scheduling_succeeded`` is ``worker_add_run_status``, what the
    worker's ``add`` and ``run`` returned.
    """

    def __init__(self, worker: Any, worker_add_run_status: bool = True) -> None:
        self.worker = worker
        self.summary_text = summary(worker)
        self.status = _status(_summary_dict(worker))
        self.one_line_summary = one_line_summary(self.status)
        self.scheduling_succeeded = worker_add_run_status

    def __str__(self) -> str:
        return f"LuigiRunResult with status {self.status}"

    def __repr__(self) -> str:
        return f"LuigiRunResult(status={self.status!r},worker={self.worker!r},scheduling_succeeded={self.scheduling_succeeded!r})"


__all__ = [
    "LuigiStatusCode",
    "LuigiRunResult",
    "StatusCode",
    "RunResult",
    "Summary",
    "summarize",
    "one_line_summary",
    "strip_summary_title",
    "TITLE",
    "WORKER_TITLE",
    "summary",
    "WorkerRunResult",
]
