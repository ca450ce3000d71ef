"""Luigi's ``luigi.execution_summary``: the status codes, the run result and the summary text.

Only names; the execution summary itself is :mod:`nbpipe.engine.summary`.
"""

from __future__ import annotations

from typing import Any

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

#: Luigi's name for what ``build(..., detailed_summary=True)`` returns.
LuigiRunResult = RunResult


def _worker_summary(worker: Any) -> Summary:
    result = getattr(worker, "result", None)
    return result.summary if isinstance(result, RunResult) else summarize([])


def _summary_dict(worker: Any) -> dict[str, set]:
    """Luigi's categories of the last run of ``worker`` (a :class:`nbpipe.worker.Worker`), each a set of tasks.

    A worker that has not run (or is not nbpipe's) has every category empty.
    """
    return {name: set(tasks) for name, tasks in _worker_summary(worker).categories.items()}


def summary(worker: Any) -> str:
    """The execution summary text of the last run of ``worker``."""
    return _worker_summary(worker).summary_text


class WorkerRunResult:
    """Luigi's ``LuigiRunResult(worker, worker_add_run_status)``: a worker's last run, as ``build`` returns it.

    ``status`` follows Luigi's rule over :func:`_summary_dict` (looked up when
    made); ``scheduling_succeeded`` is ``worker_add_run_status``, what the
    worker's ``add`` and ``run`` returned.
    """

    def __init__(self, worker: Any, worker_add_run_status: bool = True) -> None:
        from nbpipe.engine.status_codes import status_of

        categories = {name: sorted(tasks, key=str) for name, tasks in _summary_dict(worker).items()}
        self.worker = worker
        self.summary_text = summary(worker)
        self.status = status_of(categories)
        self.one_line_summary = one_line_summary(self.status)
        self.scheduling_succeeded = worker_add_run_status

    def __repr__(self) -> str:
        return f"WorkerRunResult(status={self.status!r},scheduling_succeeded={self.scheduling_succeeded!r})"


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
    "summary",
    "WorkerRunResult",
]
