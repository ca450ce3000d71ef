"""What a failed SQLite call on the state database means, in one message that says what to do.

The kinds differ in what the run does next: a locked, damaged or newer
database stops a run before anything runs (:class:`StateStoreError`); one
that cannot be written now — a full disk, an I/O error — lets the run go on
without history (:class:`StateStoreUnwritable`), and is never called damaged.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from nbpipe.exceptions import StateStoreError, StateStoreUnwritable

__all__ = ["explain"]

# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 5, 6, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26


def _no_space(folder: Path) -> bool:
    """True when the file system of ``folder`` has (almost) no free blocks left."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def explain(
    exc: sqlite3.Error, doing: str, path: Path, state_dir: Path, timeout: float, waited: float | None = None
) -> StateStoreError:
    """The error to raise for ``exc``, met while ``doing`` on the database at ``path`` after ``waited`` s."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    if code in (SQLITE_BUSY, SQLITE_LOCKED) or "locked" in text or "busy" in text:
        if waited is not None and waited < 0.9 * timeout:
            # SQLite answers "busy" at once where waiting would deadlock (two connections each
            # holding what the other needs): no wait happened, so none is claimed.
            return StateStoreError(
                f"state database {path} was locked by another process while {doing}, and SQLite gave up "
                f"after {waited:.2f} s instead of waiting (waiting would have deadlocked with that "
                "process); run again, or wait for the other nbpipe run to finish"
            )
        return StateStoreError(
            f"state database {path} stayed locked by another process for more than "
            f"{timeout:g} s while {doing}; wait for the other nbpipe run to finish, or raise "
            "[core] state_timeout"
        )
    if code == SQLITE_FULL or (code in (SQLITE_IOERR, SQLITE_CANTOPEN) and _no_space(state_dir)):
        return StateStoreUnwritable(
            f"no space left on the device of the state directory {state_dir} while {doing}; "
            "free some space there (the database itself is fine)"
        )
    if code in (SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN):
        return StateStoreUnwritable(
            f"cannot write the state database {path} ({text}) while {doing}; check that its "
            "folder is writable and its disk healthy (the database itself was not found damaged)"
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB) or "not a database" in text or "malformed" in text:
        return StateStoreError(
            f"state database {path} is damaged ({text}); move it aside — your outputs are "
            "untouched — and nbpipe starts a new one (run history and staleness marks are lost)"
        )
    return StateStoreError(f"state database {path}: {text} (while {doing})")
