"""Run tasks on a pool of threads in the driver (for I/O-bound tasks)."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures

from nbpipe import task as _task
from nbpipe.engine import run_context as runtime
from nbpipe.engine.executor import Executor, Outcome
from nbpipe.executors.run_one import run_task


class ThreadExecutor(Executor):
    """``workers`` threads.  Timeouts are not enforced (threads cannot be killed)."""

    kind = "thread"

    def __init__(self, workers: int, **options):
        super().__init__(**options)
        self.workers = max(1, int(workers))
        self._pool: ThreadPoolExecutor | None = None
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._running: dict[str, object] = {}
        self._lock = threading.Lock()
        self._verified: set[str] = set()
        self._futures: dict[str, Future] = {}

    def start(self, context) -> None:
        super().start(context)
        runtime.set_current(context)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nbpipe-task")
        self._verified = set()  # requirements found complete in this run; set.add is atomic across threads
        if self.on_progress is not None:
            progress = self.on_progress
            _task.set_progress_sink(lambda t, kind, value: progress(t.task_id, kind, value))

    def free_slots(self) -> int:
        return self.workers - len(self._running)

    def submit(self, task, deps=None) -> None:
        self.warn_unenforceable_timeout(task)
        self._running[task.task_id] = task
        name = f"thread-{len(self._running)}"
        future = self._pool.submit(run_task, task, self.check_unfulfilled_deps, name, deps, self._verified)
        self._futures[task.task_id] = future
        future.add_done_callback(lambda f, t=task: self._done.put((t, f)))

    def wait(self, timeout):
        outcomes: list[Outcome] = []
        try:
            item = self._done.get(timeout=timeout) if timeout is None or timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            return outcomes
        while True:
            task, future = item
            self._running.pop(task.task_id, None)
            self._futures.pop(task.task_id, None)
            exc = future.exception()
            if exc is not None:  # KeyboardInterrupt/SystemExit inside a task thread
                outcomes.append(
                    Outcome(task.task_id, "failed", reason=f"{type(exc).__name__} in task thread", kind="error")
                )
            else:
                outcomes.append(future.result())
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return outcomes

    def running(self):
        return list(self._running)

    def shutdown(self, kill: bool = False) -> None:
        _task.set_progress_sink(None)
        if self._pool is not None:
            # Threads cannot be killed: after an interrupt the run stops waiting
            # for them, but keeps their tasks' locks until they end (still_running).
            self._pool.shutdown(wait=not kill, cancel_futures=True)
            self._pool = None
        for task_id, future in list(self._futures.items()):
            if future.cancelled():
                del self._futures[task_id]

    def still_running(self) -> list[str]:
        return [task_id for task_id, future in self._futures.items() if not future.done()]

    def wait_stopped(self, timeout: float | None) -> list[str]:
        pending = {future: task_id for task_id, future in self._futures.items()}
        if not pending:
            return []
        done, _ = wait_for_futures(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
        ended = [pending[future] for future in done]
        for task_id in ended:
            self._futures.pop(task_id, None)
        return ended
