"""The log lines and printed lines a task emits while it runs, kept with its attempt.

One handler on the root logger, installed by the first :func:`begin` (and
again by a later one when ``logging.basicConfig(force=True)`` or
``dictConfig`` has removed it), routes each record to the buffer of the thread that emitted
it; a thread with no buffer (no task running in it) costs one attribute
lookup.  ``sys.stdout`` and ``sys.stderr`` are wrapped the same way (by the
first :func:`begin`, and again when something replaced them): what a task
prints still goes where it went — the notebook cell, the terminal, the
driver's copy of a worker's output — and its lines are also kept.  So every
executor captures the same way wherever ``run()`` runs: the driver, a worker
thread, a worker process or a Dask worker thread.

What is captured is what logging lets through (the loggers' levels as
configured), from any logger but nbpipe's own (the engine's messages about
a task are not the task's), and what the task writes to stdout or stderr
(``print``, warnings), except what a logging ``StreamHandler`` writes there,
which is the same record again.  A carriage return starts its line over, as
on a terminal, so a progress bar keeps its last state.  A task keeps its
last :data:`MAX_LINES` lines, each cut to :data:`MAX_LINE_CHARS`
characters; how many earlier lines were dropped is counted.
"""

from __future__ import annotations

import logging
import sys
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
    __slots__ = ("lines", "seen", "unfinished")

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.seen = 0
        self.unfinished: dict[str, str] = {}  # stream name -> text printed after its last newline

    def add(self, line: str) -> None:
        self.seen += 1
        self.lines.append(line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…")

    def add_printed(self, stream: str, text: str) -> None:
        text = self.unfinished.pop(stream, "") + text
        *complete, rest = text.split("\n")
        for line in complete:
            self.add(line.rpartition("\r")[2])
        if rest:
            self.unfinished[stream] = rest if len(rest) <= MAX_LINE_CHARS else rest[-MAX_LINE_CHARS:]

    def finish(self) -> None:
        for stream in sorted(self.unfinished):
            last = self.unfinished[stream].rpartition("\r")[2]
            if last:
                self.add(last)
        self.unfinished.clear()


def _buffer_of_this_thread() -> _Buffer | None:
    buffer = getattr(_local, "buffer", None)
    if buffer is _NO_LINES_YET:
        buffer = _local.buffer = _Buffer()
    return buffer


class _TaskLogHandler(logging.Handler):
    """Formats a record into the emitting thread's buffer, when that thread runs a task."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        if getattr(_local, "buffer", None) is None or record.name == "nbpipe" or record.name.startswith("nbpipe."):
            return False
        buffer = _buffer_of_this_thread()
        assert buffer is not None
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not worth a failed task
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        for line in text.splitlines() or [""]:
            buffer.add(line)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


_handler = _TaskLogHandler()
_STREAM_HANDLER_EMIT = logging.StreamHandler.emit.__code__


class _TeeStream:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: writes go on to ``target``, and a task's are kept too."""

    def __init__(self, target, name: str) -> None:
        self._target = target
        self._name = name

    def write(self, text):
        if getattr(_local, "buffer", None) is not None and isinstance(text, str) and text:
            # The same record again (a user's StreamHandler): the log handler has it already.
            if sys._getframe(1).f_code is not _STREAM_HANDLER_EMIT and not getattr(_local, "in_tee", False):
                buffer = _buffer_of_this_thread()
                assert buffer is not None
                buffer.add_printed(self._name, text)
        _local.in_tee = True  # a stream that wraps this one, or that this one wraps, keeps nothing twice
        try:
            return self._target.write(text)
        finally:
            _local.in_tee = False

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str):
        return getattr(self._target, name)


def _install() -> None:
    with _install_lock:
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def _wrap_streams() -> None:
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and type(stream) is not _TeeStream:
                setattr(sys, name, _TeeStream(stream, name))


def begin() -> object:
    """Start collecting this thread's log lines (for the task about to run here).

    Returns what :func:`end` needs to go back to collecting for an outer
    task (a task whose ``run()`` builds another pipeline in its thread).
    """
    if _handler not in logging.root.handlers:  # first use, or logging was configured anew since
        _install()
    if type(sys.stdout) is not _TeeStream or type(sys.stderr) is not _TeeStream:  # first use, or replaced since
        _wrap_streams()
    outer = getattr(_local, "buffer", None)
    _local.buffer = _NO_LINES_YET
    return outer


def end(outer: object = None) -> tuple[tuple[str, ...], int]:
    """Stop collecting; the lines kept and how many earlier ones were dropped."""
    buffer = getattr(_local, "buffer", None)
    _local.buffer = outer
    if buffer is None or buffer is _NO_LINES_YET:
        return (), 0
    buffer.finish()
    if not buffer.seen:
        return (), 0
    return tuple(buffer.lines), buffer.seen - len(buffer.lines)
