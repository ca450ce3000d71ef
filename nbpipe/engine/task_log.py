"""The log lines a task emits while it runs, kept with its attempt.

One handler on the root logger, installed by the first :func:`begin` (and
again by a later one when ``logging.basicConfig(force=True)`` or
``dictConfig`` has removed it), routes each record to the buffer of the thread that emitted
it; a thread with no buffer (no task running in it) costs one attribute
lookup.  So every executor captures the same way wherever ``run()`` runs:
the driver, a worker thread, a worker process or a Dask worker thread.

What is captured is what logging lets through (the loggers' levels as
configured), from any logger but nbpipe's own (the engine's messages about
a task are not the task's).  A task keeps its last :data:`MAX_LINES`
lines, each cut to :data:`MAX_LINE_CHARS` characters; how many earlier
lines were dropped is counted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

__all__ = ["MAX_LINES", "MAX_LINE_CHARS", "begin", "end"]

MAX_LINES = 200
MAX_LINE_CHARS = 2000

_local = threading.local()
#: A thread's buffer while its task has logged nothing: most tasks never log, and need no deque.
_NO_LINES_YET = object()
_install_lock = threading.Lock()


class _Buffer:
    __slots__ = ("lines", "seen")

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.seen = 0


class _TaskLogHandler(logging.Handler):
    """Formats a record into the emitting thread's buffer, when that thread runs a task."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        buffer = getattr(_local, "buffer", None)
        if buffer is None or record.name == "nbpipe" or record.name.startswith("nbpipe."):
            return False
        if buffer is _NO_LINES_YET:
            buffer = _local.buffer = _Buffer()
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not worth a failed task
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        for line in text.splitlines() or [""]:
            buffer.seen += 1
            buffer.lines.append(line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…")
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


_handler = _TaskLogHandler()


def _install() -> None:
    with _install_lock:
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def begin() -> object:
    """Start collecting this thread's log lines (for the task about to run here).

    Returns what :func:`end` needs to go back to collecting for an outer
    task (a task whose ``run()`` builds another pipeline in its thread).
    """
    if _handler not in logging.root.handlers:  # first use, or logging was configured anew since
        _install()
    outer = getattr(_local, "buffer", None)
    _local.buffer = _NO_LINES_YET
    return outer


def end(outer: object = None) -> tuple[tuple[str, ...], int]:
    """Stop collecting; the lines kept and how many earlier ones were dropped."""
    buffer = getattr(_local, "buffer", None)
    _local.buffer = outer
    if buffer is None or buffer is _NO_LINES_YET or not buffer.seen:
        return (), 0
    return tuple(buffer.lines), buffer.seen - len(buffer.lines)
