"""Run tasks in long-lived worker processes.

Each worker is a fresh Python (``python -m nbpipe.executors.worker``) in its
own session, started once and fed tasks over a pipe.  Task classes travel by
value with cloudpickle (:mod:`nbpipe.executors.shipping`), so classes
defined in ``__main__``, a notebook or a module loaded by file path work the
same under any platform start method; each class definition, with the
globals it carries, is sent to a worker once, and each task afterwards as
its family and parameter values only.  The run's configuration is sent
once per worker when it starts.

Failure handling, all confined to the one task involved:

* the worker dies (``os._exit``, a signal, a segfault): the pipe reaches
  EOF, the task fails with "worker died (exit code N)", and a new worker
  takes the slot;
* the task runs past its ``worker_timeout``: the worker's whole process
  group is killed and replaced, and the task fails as timed out;
* after either, temporary files the dead worker left beside the task's
  outputs are removed, so nothing half-written remains;
* an interrupt of the driver (``shutdown(kill=True)``) kills every worker
  at once and cleans up after the tasks they were running.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for

import cloudpickle

from nbpipe.engine.executor import FAILED, Executor, Outcome
from nbpipe.executors.base import remove_task_temp_files
from nbpipe.executors.shipping import DefinitionShipper, config_snapshot
from nbpipe.task import Task

logger = logging.getLogger("nbpipe")

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _exit_text(code: int | None) -> str:
    if code is None:
        return "worker died"
    text = f"worker died (exit code {code})"
    if code < 0:
        try:
            text = f"worker died (exit code {code}, {signal.Signals(-code).name})"
        except ValueError:
            pass
    return text


def _widen(fd: int) -> None:
    """Give a pipe a 1 MiB buffer where Linux allows it (fewer system calls and context switches)."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        try:
            fcntl.fcntl(fd, setpipe, 1 << 20)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: keep the default


def _forward(pipe, stream_name: str) -> None:
    """Copy a worker's output lines to the driver's current stdout/stderr."""
    for raw in iter(pipe.readline, b""):
        stream = getattr(sys, stream_name)
        try:
            stream.write(raw.decode("utf-8", "replace"))
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed driver stream must not kill the reader
            pass
    pipe.close()


class _Worker:
    def __init__(self, executor: ProcessExecutor):
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        _widen(to_worker_w)  # a class with a large global crosses in few writes, not one per 64 KiB
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH", "")]))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nbpipe.executors.worker", str(to_worker_r), str(from_worker_w)],
                pass_fds=(to_worker_r, from_worker_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self.pid = self.proc.pid
        self.send = Connection(to_worker_w, readable=False)
        self.recv = Connection(from_worker_r, writable=False)
        self.task: Task | None = None
        self.known: set[str] = set()  # definition keys this worker has received
        self.deadline: float | None = None
        self.timeout: float | None = None
        self.started = 0.0
        self.readers = [
            threading.Thread(target=_forward, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=_forward, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        self.send.send_bytes(executor.init_message)

    @property
    def name(self) -> str:
        return f"process-{self.pid}"

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def reap(self, grace: float = 5.0) -> int | None:
        """Wait for the process to end (killing it after ``grace``); close pipes."""
        try:
            code = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        for conn in (self.send, self.recv):
            try:
                conn.close()
            except OSError:
                pass
        for reader in self.readers:
            reader.join(timeout=grace)
        return code


class ProcessExecutor(Executor):
    """``workers`` long-lived processes; see the module docstring."""

    kind = "process"

    def __init__(self, workers: int, **options):
        super().__init__(**options)
        self.workers = max(1, int(workers))
        self._slots: list[_Worker | None] = []
        self.settings = {
            "driver_pid": os.getpid(),
            "sys_path": list(sys.path),
            "log_level": logging.getLogger().getEffectiveLevel(),
        }
        self.init_message = b""
        self.shipper = DefinitionShipper()
        #: What was sent to workers: definitions (count, bytes) and task payload bytes.
        self.stats = {"definitions_sent": 0, "definition_bytes": 0, "task_bytes": 0, "tasks_sent": 0}

    def start(self, context) -> None:
        super().start(context)
        self.settings["sys_path"] = list(sys.path)
        self.settings["context"] = context
        self.settings["check_unfulfilled_deps"] = self.check_unfulfilled_deps
        self.settings["config"] = config_snapshot()
        self.shipper = DefinitionShipper()  # one run: globals are read at the run's first dispatch
        self.init_message = cloudpickle.dumps(("init", self.settings))
        # Workers start on first use: a run that finds everything complete
        # starts none, and the first task is not held up by the others.
        self._slots = [None] * self.workers

    def free_slots(self) -> int:
        return sum(1 for w in self._slots if w is None or w.task is None)

    def running(self) -> list[str]:
        return [w.task.task_id for w in self._slots if w is not None and w.task is not None]

    def submit(self, task: Task, deps: list | None = None) -> None:
        # The worker calls requires() itself: shipping the requirements too
        # would cost more to pickle than the call saves.
        if None in self._slots:
            # Start every missing worker now: they import nbpipe in parallel,
            # instead of one after the other as each first task reaches them.
            self._slots = [_Worker(self) if w is None else w for w in self._slots]
        for worker in self._slots:
            if worker is not None and worker.task is None:
                if worker.proc.poll() is not None:  # ended while idle (SIGTERM, a kill): replace it
                    worker.reap(grace=0.0)
                    worker = self._slots[self._slots.index(worker)] = _Worker(self)
                break
        else:
            raise RuntimeError("submit() called with no free worker")
        payload, keys = self.shipper.dumps(task)
        messages = []
        for definition in self.shipper.closure(keys):
            if definition.key not in worker.known:
                worker.known.add(definition.key)
                header = ("define", definition.key, definition.module, definition.qualname, definition.origin)
                messages.append(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL))
                messages.append(definition.blob)  # raw: no copy into a pickle of its own
                self.stats["definitions_sent"] += 1
                self.stats["definition_bytes"] += len(definition.blob)
        messages.append(pickle.dumps(("run", task.task_id, str(task), payload), protocol=pickle.HIGHEST_PROTOCOL))
        self.stats["tasks_sent"] += 1
        self.stats["task_bytes"] += len(payload)
        worker.task = task
        worker.started = time.monotonic()
        worker.timeout = self.timeout_for(task)
        worker.deadline = worker.started + worker.timeout if worker.timeout else None
        try:
            for message in messages:
                worker.send.send_bytes(message)
        except OSError:
            pass  # the worker is dead; wait() sees the EOF and reports it

    def wait(self, timeout: float | None) -> list[Outcome]:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            busy = {w.recv: w for w in self._slots if w is not None and w.task is not None}
            if not busy:
                return []
            now = time.monotonic()
            limit = end
            deadlines = [w.deadline for w in busy.values() if w.deadline is not None]
            if deadlines:
                limit = min(deadlines) if limit is None else min(limit, min(deadlines))
            ready = wait_for(list(busy), timeout=None if limit is None else max(0.0, limit - now))
            outcomes: list[Outcome] = []
            for conn in ready:
                worker = busy[conn]
                try:
                    message = pickle.loads(conn.recv_bytes())
                except (EOFError, OSError):
                    outcomes.append(self._lost(worker, worker_died=True))
                    continue
                kind = message[0]
                if kind == "result":
                    outcome = message[1]
                    worker.task = None
                    worker.deadline = None
                    outcomes.append(outcome)
                    if len(message) > 2 and message[2] == "leaving":  # it was told to stop (SIGTERM)
                        worker.reap(grace=5.0)
                        self._slots[self._slots.index(worker)] = None
                elif kind == "progress" and self.on_progress is not None:
                    self.on_progress(message[1], message[2], message[3])
            now = time.monotonic()
            for worker in list(busy.values()):
                if worker.task is not None and worker.deadline is not None and now >= worker.deadline:
                    outcomes.append(self._lost(worker, worker_died=False))
            if outcomes or (end is not None and now >= end):
                return outcomes

    def _lost(self, worker: _Worker, worker_died: bool) -> Outcome:
        """The worker died or timed out: kill it, clean up, free the slot."""
        task = worker.task
        elapsed = time.monotonic() - worker.started
        if not worker_died:
            worker.kill()
        code = worker.reap(grace=5.0)
        self._slots[self._slots.index(worker)] = None
        removed = remove_task_temp_files(task, worker.pid)
        if worker_died:
            reason, kind = _exit_text(code), "worker_died"
        else:
            reason, kind = f"timed out after {worker.timeout:g} s (worker_timeout); worker killed", "timeout"
        if removed:
            logger.info("removed %d partial file(s) left by %s: %s", len(removed), task, ", ".join(removed))
        return Outcome(task.task_id, FAILED, elapsed, reason=reason, explanation=reason, worker=worker.name, kind=kind)

    def shutdown(self, kill: bool = False) -> list[str]:
        """Stop every worker; returns the ids of tasks that were killed mid-run."""
        killed = []
        for worker in self._slots:
            if worker is None:
                continue
            if worker.task is not None:
                killed.append(worker.task)
                worker.kill()
            else:
                try:
                    worker.send.send_bytes(pickle.dumps(("stop",)))
                except OSError:
                    pass
                if kill:
                    worker.kill()
        for worker in self._slots:
            if worker is not None:
                worker.reap(grace=5.0)
                if worker.task is not None:
                    remove_task_temp_files(worker.task, worker.pid)
        self._slots = []
        return [t.task_id for t in killed]
