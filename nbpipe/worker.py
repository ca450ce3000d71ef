"""Luigi's ``luigi.worker``: ``Worker``, which takes tasks with :meth:`Worker.add` and builds them with :meth:`Worker.run`.

A face over :func:`nbpipe.driver.run.execute`: the tasks added are the
roots of one run, with ``worker_processes`` workers (inline for one, worker
processes for more).  After the run each task's final state is reported to
the worker's :class:`~nbpipe.scheduler.Scheduler` with ``add_task``, so
Luigi code that reads the scheduler back (``task_list``) sees what happened;
the run's result is kept for :func:`nbpipe.execution_summary.summary`.

Luigi's other keywords (``keep_alive``, ``wait_interval``, ``ping_interval``,
``no_install_shutdown_handler``, ``task_process_context``, ...) are
accepted and kept in :attr:`Worker.config`; they have no effect here, since
no central scheduler is polled.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from nbpipe.engine.run_result import RunResult
from nbpipe.exceptions import TaskException
from nbpipe.scheduler import DISABLED, DONE, FAILED, PENDING, Scheduler
from nbpipe.task import Task

__all__ = ["Worker", "TaskException"]

# The scheduler status each summary category reports (Luigi's names).
_STATUS_OF_CATEGORY = {
    "already_done": DONE,
    "completed": DONE,
    "failed": FAILED,
    "scheduling_error": FAILED,
    "disabled": DISABLED,
}


class Worker:
    """Luigi's worker: ``add`` tasks, then ``run`` them; usable as a context manager.

    ``run()`` returns True when no task failed and none failed scheduling
    (Luigi's meaning); ``add()`` returns False for a value that is not a task.
    """

    def __init__(
        self,
        scheduler: Scheduler | None = None,
        worker_id: str | None = None,
        worker_processes: int = 1,
        assistant: bool = False,
        **config: Any,
    ) -> None:
        self._scheduler = scheduler if scheduler is not None else Scheduler()
        self._id = worker_id or f"Worker(host={socket.gethostname()}, pid={os.getpid()})"
        self.worker_processes = int(worker_processes)
        self._assistant = assistant
        self.config = config
        self._roots: list[Task] = []
        self._add_succeeded = True
        self.result: RunResult | None = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.stop()
        return False  # exceptions propagate

    def stop(self) -> None:
        """Nothing to stop between runs: each run ends its executor."""

    def add(self, task: Any, multiprocess: bool = False, processes: int = 0) -> bool:
        """Add ``task`` (and, at run time, what it requires) to this worker's next run.

        Raises :class:`TaskException` for a value that is not a task, as Luigi does.
        """
        if not isinstance(task, Task):
            raise TaskException(f"Can not schedule non-task {task!r}")
        if task not in self._roots:
            self._roots.append(task)
            self._scheduler.add_task(
                task_id=task.task_id, status=PENDING, worker=self._id, family=task.get_task_family()
            )
        return True

    def run(self) -> bool:
        """Build every task added since the last run; True when none failed and none failed scheduling."""
        from nbpipe.driver.run import execute

        roots, self._roots = self._roots, []
        self.result = execute(roots, workers=max(1, self.worker_processes))
        self._report(self.result)
        return self.result.scheduling_succeeded and self._add_succeeded

    def _report(self, result: RunResult) -> None:
        for category, tasks in result.summary.categories.items():
            status = _STATUS_OF_CATEGORY.get(category, PENDING)
            for task in tasks:
                deps = [d.task_id for d in task.deps()] if isinstance(task, Task) else None
                family = task.get_task_family()
                self._scheduler.add_task(task_id=task.task_id, status=status, deps=deps, worker=self._id, family=family)
