"""Run each task in the driver, one at a time: simplest, and best for debugging."""

from __future__ import annotations

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

    def __init__(self, **options):
        super().__init__(**options)
        self._outcomes: list[Outcome] = []

    def free_slots(self) -> int:
        return 0 if self._outcomes else 1

    def submit(self, task, deps=None) -> None:
        self.warn_unenforceable_timeout(task)
        runtime.set_current(self.context)
        sink = None
        if self.on_progress is not None:
            progress = self.on_progress

            def sink(t, kind, value):
                progress(t.task_id, kind, value)

        _task.set_progress_sink(sink)
        try:
            self._outcomes.append(run_task(task, self.check_unfulfilled_deps, "inline", deps))
        finally:
            _task.set_progress_sink(None)

    def wait(self, timeout):
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def running(self):
        # Finished but not yet collected by wait(): still "in the executor".
        return [o.task_id for o in self._outcomes]
