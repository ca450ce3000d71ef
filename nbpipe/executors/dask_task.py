"""The part of the Dask executor that runs on Dask workers.

:func:`run_payload` is what the driver submits: it unpickles one task (sent
by value with cloudpickle, so classes defined in a notebook or ``__main__``
work), runs it with :func:`~nbpipe.executors.run_one.run_task`, and returns the
pickled :class:`~nbpipe.executors.run_one.Outcome` together with what the task
printed, which the driver writes out prefixed with the task's name.

A Dask worker may run several tasks at once, one per thread, possibly for
several drivers; so the run context, the progress sink and the captured
output are all per thread.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading

import cloudpickle

__all__ = ["run_payload", "PROGRESS_TOPIC"]

#: Dask event topic carrying ``(run_id, task_id, kind, value)`` progress reports.
PROGRESS_TOPIC = "nbpipe-progress"
#: The kind of the report a task with a timeout sends when it starts.
STARTED = "nbpipe:started"

_local = threading.local()
_install_lock = threading.Lock()
_installed = False


class _ThreadRoutedStream(io.TextIOBase):
    """Stands in for sys.stdout/stderr: a task thread's writes go to its buffer."""

    def __init__(self, original, attribute: str):
        self._original = original
        self._attribute = attribute

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffer = getattr(_local, self._attribute, None)
        if buffer is None:
            return self._original.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        if getattr(_local, self._attribute, None) is None:
            self._original.flush()

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self):
        return getattr(self._original, "encoding", "utf-8")


def _progress(task, kind, value) -> None:
    sink = getattr(_local, "progress", None)
    if sink is not None:
        sink(task, kind, value)


def _install_once() -> None:
    """Route output and progress by thread; done once per worker process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from nbpipe import task as task_module

        sys.stdout = _ThreadRoutedStream(sys.stdout, "out")
        sys.stderr = _ThreadRoutedStream(sys.stderr, "out")
        task_module.set_progress_sink(_progress)
        _installed = True


class _ThreadHandler(logging.Handler):
    """Log records of one thread, into that thread's captured output."""

    def __init__(self, thread_id: int, level: int):
        super().__init__(level)
        self.thread_id = thread_id
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        buffer = getattr(_local, "out", None)
        if buffer is not None:
            buffer.write(self.format(record) + "\n")


def run_payload(
    sys_path: list[str], cwd: str, payload: bytes, log_level: int, report_start: str | None = None
) -> tuple[bytes, str]:
    """Run the task in ``payload``; return ``(pickled Outcome, captured output)``.

    ``sys_path`` and ``cwd`` are the driver's.  Modules it imported by name
    (``--module``) are found here too when the worker shares its file
    system; and relative paths in tasks mean what they mean in the driver
    when this worker runs one task at a time (the working directory is per
    process, so a multi-threaded worker keeps its own).  ``report_start``
    (the Dask key) asks for a "started" report, from which the driver
    times the task's ``worker_timeout``.
    """
    for entry in sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    _install_once()
    from nbpipe.engine import run_context as runtime
    from nbpipe.executors.run_one import run_task

    task, context, check_deps = cloudpickle.loads(payload)
    worker_name = "dask"
    previous_cwd = None
    try:
        from distributed import get_worker

        worker = get_worker()
        worker_name = f"dask-{worker.address}"
        if worker.state.nthreads == 1 and os.path.isdir(cwd) and os.getcwd() != cwd:
            previous_cwd = os.getcwd()
            os.chdir(cwd)

        def send_progress(_task, kind, value, _id=task.task_id):
            worker.log_event(PROGRESS_TOPIC, (context.run_id, _id, kind, value))

        if report_start is not None:
            worker.log_event(PROGRESS_TOPIC, (context.run_id, task.task_id, STARTED, report_start))
    except (ImportError, ValueError):  # not on a Dask worker (called directly)
        send_progress = None
    captured = io.StringIO()
    handler = _ThreadHandler(threading.get_ident(), log_level)
    root = logging.getLogger()
    _local.out, _local.progress = captured, send_progress
    runtime.set_thread_current(context)
    root.addHandler(handler)
    try:
        outcome = run_task(task, check_deps, worker=worker_name)
    finally:
        root.removeHandler(handler)
        runtime.set_thread_current(None)
        if previous_cwd is not None:
            os.chdir(previous_cwd)
        _local.out = _local.progress = None
    try:
        data = cloudpickle.dumps(outcome)
    except Exception:  # noqa: BLE001 - an exception that cannot cross processes
        outcome.exception = None
        data = cloudpickle.dumps(outcome)
    return data, captured.getvalue()
