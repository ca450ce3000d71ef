"""Run each task in the driver, one at a time: simplest, and best for debugging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nbpipe import task as _task
from nbpipe.engine import run_context as runtime
from nbpipe.engine.executor import Executor, Outcome
from nbpipe.executors.run_one import run_task


class InlineExecutor(Executor):
    """Runs a task inside ``submit``; ``wait`` returns its outcome.

    ``worker_timeout`` cannot be enforced here (nothing can stop Python code
    in the same thread); use the process executor for tasks that may hang.
    """

    kind = "inline"
    runs_tasks_in_submit = True

    def __init__(self, **options):
        super().__init__(**options)
        self._outcomes: list[Outcome] = []
        self._verified: set[str] = set()  # requirements found complete in this run (see run_task)
        self._sink: Callable[[Any, str, Any], None] | None = None

    def start(self, context) -> None:
        super().start(context)
        self._verified = set()
        self._sink = None
        if self.on_progress is not None:
            progress = self.on_progress

            def sink(t, kind, value):
                progress(t.task_id, kind, value)

            self._sink = sink

    def free_slots(self) -> int:
        return 0 if self._outcomes else 1

    def submit(self, task, deps=None) -> None:
        if type(task) not in self._timeout_checked:
            self.warn_unenforceable_timeout(task)
        # Set per task, not once: task code (a nested build) may have changed them.
        runtime.set_current(self.context)
        _task.set_progress_sink(self._sink)
        try:
            self._outcomes.append(run_task(task, self.check_unfulfilled_deps, "inline", deps, self._verified))
        finally:
            _task.set_progress_sink(None)

    def wait(self, timeout):
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def running(self):
        # Finished but not yet collected by wait(): still "in the executor".
        return [o.task_id for o in self._outcomes]
