"""Lock files: their names, and the holder details written into them.

One file per task in ``<state_dir>/locks/`` (:data:`LOCKS_SUBDIR`), named by
:func:`lock_file_name`.  After taking a lock its holder writes who it is into
the file as JSON (pid, host, run id, task id, acquired, heartbeat);
:func:`parse_holder` reads that back, even half-written.  The details are
information for people; the kernel's ``flock`` alone decides who holds a
lock (see :mod:`nbpipe.state.task_locks`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass

from nbpipe.exceptions import LockError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCKS_SUBDIR",
    "LOCK_SUFFIX",
    "PROBE_FLAGS",
    "LockError",
    "LockHolder",
    "unknown_holder",
    "lock_file_name",
    "read_all",
    "parse_holder",
    "pid_alive",
    "hostname",
    "require_flock",
    "dir_error",
]

#: Sub-directory of the state directory that holds the lock files.
LOCKS_SUBDIR = "locks"
#: Every lock file's name ends with this.
LOCK_SUFFIX = ".lock"
#: Flags to open a lock file only to test or read it (never creates it, never follows a symlink).
PROBE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)

_MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a task's lock, as written by the holder into the lock file.

    ``pid`` is 0 (and the other fields empty) when the holder has not written
    its details yet, or when they cannot be read.
    """

    pid: int
    host: str
    run_id: str
    task_id: str
    acquired: float  # time.time() when taken
    heartbeat: float  # last time the holder confirmed it is alive

    def describe(self, now: float | None = None) -> str:
        """``held by pid 123 on host x (run R) since 12:04:05, alive 3 s ago``."""
        if not self.pid:
            return "held by a process that has not written its details yet"
        now = time.time() if now is None else now
        text = f"held by pid {self.pid} on host {self.host or '?'}"
        if self.run_id:
            text += f" (run {self.run_id})"
        if self.acquired:
            text += " since " + time.strftime("%H:%M:%S", time.localtime(self.acquired))
        if self.heartbeat:
            text += f", alive {max(0.0, now - self.heartbeat):.0f} s ago"
        return text


def unknown_holder(task_id: str) -> LockHolder:
    """The holder of a lock whose details are not (yet) readable: pid 0, empty fields."""
    return LockHolder(0, "", "", task_id, 0.0, 0.0)


# -- file names ---------------------------------------------------------------


def _escape(match: re.Match) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def lock_file_name(task_id: str) -> str:
    """The lock file's name for ``task_id``: filesystem-safe, unique, at most 200 bytes.

    Letters, digits, ``_``, ``.`` and ``-`` are kept, other characters are
    %-escaped (UTF-8 bytes); an id whose name would be too long keeps a
    readable head followed by ``~`` and its SHA-256 (``~`` never occurs in a
    name that is not hashed, so names never collide).
    """
    if not isinstance(task_id, str) or not task_id:
        raise ValueError(f"task id must be a non-empty string, not {task_id!r}")
    name = _UNSAFE.sub(_escape, task_id) if _UNSAFE.search(task_id) else task_id
    if len(name) + len(LOCK_SUFFIX) <= _MAX_NAME_BYTES:
        return name + LOCK_SUFFIX
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()
    head = name[: _MAX_NAME_BYTES - len(LOCK_SUFFIX) - len(digest) - 1]
    cut = head.find("%", len(head) - 2)  # do not end on half an escape
    if cut >= 0:
        head = head[:cut]
    return f"{head}~{digest}{LOCK_SUFFIX}"


_FIELD = re.compile(
    r'"(pid|host|run_id|task_id|acquired|heartbeat)"\s*:\s*'
    r'("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+\-]*)\s*(?=[,}])'
)


def read_all(fd: int) -> bytes:
    """Every byte of the file open as ``fd``, read from offset 0 (the offset is not moved)."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 65536, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        if len(chunk) < 65536:
            break
    return b"".join(chunks)


def parse_holder(data: bytes, task_id: str) -> LockHolder:
    """Holder details from a lock file's bytes; tolerates empty or half-written files."""
    text = data.decode("utf-8", "replace")
    fields: dict = {}
    if text.strip():
        try:
            loaded = json.loads(text)
            if isinstance(loaded, dict):
                fields = loaded
        except ValueError:
            # Half-written: keep the fields that are complete (followed by , or }).
            for match in _FIELD.finditer(text):
                try:
                    fields[match.group(1)] = json.loads(match.group(2))
                except ValueError:
                    pass

    def number(key, kind):
        value = fields.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return kind(0)
        return kind(value)

    def string(key, default=""):
        value = fields.get(key)
        return value if isinstance(value, str) else default

    return LockHolder(
        pid=number("pid", int),
        host=string("host"),
        run_id=string("run_id"),
        task_id=string("task_id", task_id) or task_id,
        acquired=number("acquired", float),
        heartbeat=number("heartbeat", float),
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: exists, owned by someone else
        return True
    return True


# -- helpers ------------------------------------------------------------------

_host: str | None = None


def hostname() -> str:
    """This machine's host name, as written into lock files (looked up once)."""
    global _host
    if _host is None:
        _host = socket.gethostname()
    return _host


def require_flock() -> None:
    """Raise :class:`LockError` when this platform has no ``fcntl.flock``."""
    if fcntl is None or not hasattr(fcntl, "flock"):
        raise LockError(
            f"task locks need fcntl.flock, which this platform ({sys.platform}) does not provide; "
            "run nbpipe on Linux or macOS (on Windows, use WSL)"
        )


def dir_error(locks_dir: str, action: str, exc: OSError) -> LockError:
    """The :class:`LockError` for an OSError while ``action`` ("create lock files") in ``locks_dir``."""
    reason = exc.strerror or str(exc)
    return LockError(
        f"cannot {action} in the nbpipe lock directory {locks_dir}: {reason}; make that directory "
        "writable, or point NBPIPE_STATE_DIR (or [core] state_dir) at a writable directory"
    )
