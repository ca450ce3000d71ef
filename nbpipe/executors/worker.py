"""The worker process of the process executor (``python -m nbpipe.executors.worker``).

Long-lived: it receives tasks one at a time over a pipe, runs them, and
sends back an :class:`~nbpipe.executors.run_one.Outcome`.  What a task prints or
logs is written line by line, prefixed with the task's name, to this
process's stdout/stderr, which the driver forwards to its own.

Messages are pickled tuples.  Driver to worker: ``("init", settings)``
(the run context, the driver's ``sys.path`` and configuration), ``("define",
key, module, qualname, origin)`` followed by the definition's bytes as a
message of their own (a task class, once per definition: see
:mod:`nbpipe.executors.shipping`), ``("run", task_id, label, payload)``
(the task's values, its classes as definition keys), ``("stop",)``.  Worker
to driver: ``("ready", pid)``, ``("progress", task_id, kind, value)``,
``("result", outcome)``.  A task that cannot be loaded here fails with the
reason; the worker goes on with the next one.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import signal
import sys
from multiprocessing.connection import Connection


class TaggedLineWriter(io.TextIOBase):
    """A text stream that prefixes each complete line with ``tag``."""

    def __init__(self, raw):
        self._raw = raw
        self._pending = ""
        self.tag = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        data = self._pending + text
        if "\n" in data:
            *lines, self._pending = data.split("\n")
            tag = self.tag
            self._raw.write("".join(f"{tag}{line}\n" for line in lines))
            self._raw.flush()
        else:
            self._pending = data
        return len(text)

    def flush(self) -> None:
        self._raw.flush()

    def finish(self) -> None:
        """Write out a last unterminated line."""
        if self._pending:
            self._raw.write(f"{self.tag}{self._pending}\n")
            self._pending = ""
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    @property
    def encoding(self):
        return getattr(self._raw, "encoding", "utf-8")


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL us when the driver dies, so no worker is orphaned."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:  # noqa: BLE001 - best effort; the pipe EOF also stops us
            pass
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)


def _tag_for(task) -> str:
    name = str(task)
    if len(name) > 60:
        name = name[:57] + "..."
    return f"[{name}] "


def _raise_terminated(signum, frame) -> None:
    from nbpipe.exceptions import Terminated

    raise Terminated("SIGTERM")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _raise_terminated)  # SIGTERM unwinds a task as Ctrl-C would
    try:
        return _serve(argv)
    except KeyboardInterrupt as exc:  # between tasks
        from nbpipe.exceptions import Terminated

        return 143 if isinstance(exc, Terminated) else 130


def _serve(argv: list[str]) -> int:
    fd_in, fd_out = int(argv[1]), int(argv[2])
    conn_in = Connection(fd_in, writable=False)
    conn_out = Connection(fd_out, readable=False)
    try:
        kind, settings = pickle.loads(conn_in.recv_bytes())
    except EOFError:
        return 0
    _die_with_parent(settings["driver_pid"])
    sys.path[:] = settings["sys_path"]
    out = TaggedLineWriter(sys.stdout)
    err = TaggedLineWriter(sys.stderr)
    sys.stdout, sys.stderr = out, err
    logging.basicConfig(
        level=settings.get("log_level", logging.WARNING), stream=err, format="%(levelname)s: %(message)s", force=True
    )

    from nbpipe import task as task_module
    from nbpipe.engine import run_context as runtime
    from nbpipe.engine.executor import FAILED, Outcome
    from nbpipe.exceptions import Terminated
    from nbpipe.executors.run_one import run_task
    from nbpipe.executors.shipping import DefinitionCache, TaskLoadError, dumps_result, install_config

    try:
        install_config(settings["config"])
    except Exception as exc:  # noqa: BLE001 - run on with this process's own configuration, and say so
        logging.getLogger("nbpipe").warning(
            "worker process %d could not take over the driver's configuration (%s: %s); "
            "it reads its own configuration files instead",
            os.getpid(),
            type(exc).__name__,
            exc,
        )
    runtime.set_current(settings["context"])
    check_deps = settings["check_unfulfilled_deps"]
    definitions = DefinitionCache()
    verified: set[str] = set()  # requirements found complete in this run (a worker serves one run)
    worker_name = f"process-{os.getpid()}"
    conn_out.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            message = pickle.loads(conn_in.recv_bytes())
        except EOFError:
            return 0  # the driver went away
        if message[0] == "stop":
            return 0
        if message[0] == "define":
            _, key, module, qualname, origin = message
            definitions.add(key, conn_in.recv_bytes(), module, qualname, origin)
            continue
        _, task_id, label, payload = message
        try:
            task = definitions.loads_task(payload)
        except TaskLoadError as exc:
            reason = f"cannot run {label} in worker process {os.getpid()}: {exc}"
            failed = Outcome(task_id, FAILED, 0.0, reason=reason, explanation=reason, worker=worker_name, kind="error")
            conn_out.send_bytes(dumps_result(("result", failed)))
            continue
        out.tag = err.tag = _tag_for(task)

        def progress(t, kind, value, _id=task_id):
            conn_out.send_bytes(pickle.dumps(("progress", _id, kind, value)))

        task_module.set_progress_sink(progress)
        try:
            outcome = run_task(task, check_deps, worker=worker_name, verified=verified)
        except KeyboardInterrupt as exc:
            # SIGTERM (or SIGINT) to this worker: the exception unwound the task, so
            # its atomic writes were discarded; report it, then leave.
            signal_name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            reason = f"worker process {os.getpid()} received {signal_name} while running it; the task was stopped"
            stopped = Outcome(
                task_id, FAILED, 0.0, reason=reason, explanation=reason, worker=worker_name, kind="worker_died"
            )
            out.finish()
            err.finish()
            conn_out.send_bytes(dumps_result(("result", stopped, "leaving")))
            return 143 if isinstance(exc, Terminated) else 130
        task_module.set_progress_sink(None)
        out.finish()
        err.finish()
        out.tag = err.tag = ""
        conn_out.send_bytes(dumps_result(("result", outcome)))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
