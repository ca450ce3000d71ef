"""The part of the Dask executor that runs on Dask workers.

:func:`run_payload` is what the driver submits: it unpickles one task (its
parameter values; its class arrives as a definition the driver scattered to
every worker once, which this worker loads once and keeps by digest: see
:mod:`nbpipe.executors.shipping`), runs it with :func:`~nbpipe.executors.run_one.run_task`, and returns the
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

from nbpipe.executors.shipping import DefinitionCache, TaskLoadError, dumps_result, install_config

__all__ = ["run_payload", "hold", "bodies_in_progress", "PROGRESS_TOPIC"]

#: Dask event topic carrying ``(run_id, task_id, kind, value)`` progress reports.
PROGRESS_TOPIC = "nbpipe-progress"
#: The kind of the report a task with a timeout sends when it starts.
STARTED = "nbpipe:started"
#: The kind of the report carrying a task's result, ``(dask key, pickled Outcome, captured output)``.
OUTCOME = "nbpipe:outcome"
#: Results up to this size are also pushed to the driver as an event (see ``run_payload``).
PUSHED_RESULT_BYTES = 64 * 1024

_local = threading.local()
# Task classes by definition digest, for every driver this worker serves.
_definitions: DefinitionCache | None = None
_install_lock = threading.Lock()
_installed = False
# The task bodies running in this process, by thread. A body outlives its driver (nothing stops a
# worker thread), so a driver starting on a shared cluster asks every worker for these: see
# nbpipe.executors.dask_locks.
_bodies: dict[int, tuple[str, str]] = {}


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
    sys_path: list[str],
    cwd: str,
    payload: bytes,
    log_level: int,
    report_start: str | None = None,
    task_id: str = "",
    label: str = "",
    definitions: tuple = (),
    config: tuple | None = None,
    result_key: str = "",
) -> tuple[bytes, str] | None:
    """Run the task in ``payload``; return ``(pickled Outcome, captured output)``, or None once pushed.

    ``sys_path`` and ``cwd`` are the driver's.  Modules it imported by name
    (``--module``) are found here too when the worker shares its file
    system; and relative paths in tasks mean what they mean in the driver
    when this worker runs one task at a time (the working directory is per
    process, so a multi-threaded worker keeps its own).  ``report_start``
    (the Dask key) asks for a "started" report, from which the driver
    times the task's ``worker_timeout``.  ``definitions`` are ``(key, blob,
    module, qualname, origin)`` of the task's classes (the blobs are the
    scattered data, already in this worker's memory); ``config`` is
    ``(digest, snapshot)`` of the driver's configuration, installed for the
    whole worker process when it differs from the last one installed.  A
    task that cannot be loaded here fails with the module and the reason.

    ``result_key`` (the Dask key) asks for the result to be pushed to the
    driver as an event instead, when it is small; the return value is then None.
    """
    global _definitions
    for entry in sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    _install_once()
    from nbpipe.engine import run_context as runtime
    from nbpipe.engine.executor import FAILED, Outcome
    from nbpipe.executors.run_one import run_task

    with _install_lock:
        if _definitions is None:
            _definitions = DefinitionCache(limit=256, keep_blobs=False)
        if config is not None:
            install_config(config[1], key=config[0])
    for definition in definitions:
        _definitions.add(*definition)
    try:
        task, context, check_deps = _definitions.loads_task(payload)
    except TaskLoadError as exc:
        reason = f"cannot run {label} on Dask worker {_worker_address()}: {exc}"
        failed = Outcome(task_id, FAILED, 0.0, reason=reason, explanation=reason, worker="dask", kind="error")
        return dumps_result(failed), ""
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
        _bodies[threading.get_ident()] = (context.run_id, task.task_id)
        outcome = run_task(task, check_deps, worker=worker_name)
    finally:
        _bodies.pop(threading.get_ident(), None)
        root.removeHandler(handler)
        runtime.set_thread_current(None)
        if previous_cwd is not None:
            os.chdir(previous_cwd)
        _local.out = _local.progress = None
    result = dumps_result(outcome), captured.getvalue()
    if result_key and send_progress is not None and len(result[0]) + len(result[1]) <= PUSHED_RESULT_BYTES:
        # Pushed with the scheduler's event stream, the result reaches the driver with no
        # request of its own: fetching each future's result cost a round trip per task.
        # The Dask result is then None, which the worker keeps and measures for nothing.
        worker.log_event(PROGRESS_TOPIC, (context.run_id, task.task_id, OUTCOME, (result_key, *result)))
        return None
    return result


def bodies_in_progress() -> list[tuple[str, str]]:
    """``(run id, task id)`` of each task body running in this worker process, for ``Client.run``."""
    return list(_bodies.copy().values())


def hold(data: bytes) -> bytes:
    """The task that keeps a definition's bytes on the cluster (see ``DaskExecutor._scatter``)."""
    return data


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "(not on a Dask worker)"
