"""Temporary files of atomic writes: their names, and removing those whose writer died.

An atomic write goes to a hidden sibling of the final path and is renamed
into place when it succeeds.  The sibling's name says who wrote it::

    .<name>.nbpipe-tmp-<pid>-<host tag>-<random>

so that a later run can tell leftovers of a dead process (its pid is gone
on this host) from a write in progress, and remove them.  When ``<name>``
is so long that the sibling's name would pass the file system's 255-byte
limit, the name is shortened and a digest of the whole name kept, so any
name that can be an output can be written atomically.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import threading
import time

__all__ = ["TEMP_MARK", "temp_path_for", "temp_prefix", "remove_temp_files", "remove_dead_temp_files"]

TEMP_MARK = ".nbpipe-tmp-"

#: The longest file name most file systems accept (bytes).
NAME_MAX = 255
#: Bytes a temporary name adds at most: "." + TEMP_MARK + pid (7) + "-" + host tag (4) + "-" + 8 hex.
_ADDED = 1 + len(TEMP_MARK) + 7 + 1 + 4 + 1 + 8


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:4]


HOST_TAG = _host_tag()


def temp_prefix(name: str) -> str:
    """The start every temporary sibling of the file ``name`` has: ``.<name>.nbpipe-tmp-``.

    A name too long to carry is cut (at a character boundary) and followed
    by ``~`` and 8 hex digits of its sha1, so different long names keep
    different prefixes.
    """
    if len(name) * 4 + _ADDED <= NAME_MAX:  # short enough in any encoding (UTF-8: 4 bytes a character at most)
        return f".{name}{TEMP_MARK}"
    encoded = os.fsencode(name)
    if len(encoded) + _ADDED <= NAME_MAX:
        return f".{name}{TEMP_MARK}"
    keep = NAME_MAX - _ADDED - 9
    cut = encoded[:keep].decode("utf-8", "ignore") if isinstance(name, str) else os.fsdecode(encoded[:keep])
    return f".{cut}~{hashlib.sha1(encoded).hexdigest()[:8]}{TEMP_MARK}"


def temp_path_for(path: str) -> str:
    """A hidden sibling of ``path`` named after this process, for atomic writes."""
    head, slash, tail = os.fspath(path).rpartition("/")  # os.path.split and join, without their generality
    return f"{head}{slash}{temp_prefix(tail)}{os.getpid()}-{HOST_TAG}-{random.getrandbits(32):08x}"


def _remove(full: str) -> bool:
    try:
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.remove(full)
        return True
    except FileNotFoundError:
        return False


def remove_temp_files(path: str, pid: int | None = None) -> list[str]:
    """Remove temporary siblings of ``path`` left by process ``pid`` (any pid if None).

    Returns the paths removed.  Used after a worker died mid-write.
    """
    head, tail = os.path.split(path)
    prefix = temp_prefix(tail) + (f"{pid}-" if pid is not None else "")
    try:
        names = os.listdir(head or ".")
    except OSError:
        return []
    return [os.path.join(head, n) for n in names if n.startswith(prefix) and _remove(os.path.join(head, n))]


def _writer_is_dead(name: str) -> bool:
    """True when ``name`` is a temporary file whose writer, on this host, no longer runs."""
    _, _, rest = name.rpartition(TEMP_MARK)
    parts = rest.split("-")
    if len(parts) != 3 or parts[1] != HOST_TAG or not parts[0].isdigit():
        return False  # another host's, or an older name form: its writer cannot be checked here
    pid = int(parts[0])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"  # a zombie writes nothing more
    except OSError:
        return False


#: When each folder was last swept (monotonic seconds): once a minute at most, so a
#: long-lived kernel sweeps again on a later run, and a big run lists a folder once.
_swept: dict[str, float] = {}
_swept_lock = threading.Lock()
SWEEP_EVERY = 60.0


def remove_dead_temp_files(folder: str) -> list[str]:
    """Remove temporary files in ``folder`` whose writer process is gone (at most once a minute per folder).

    Called when a write starts in ``folder``: leftovers of a run that was
    killed mid-write go as soon as a later run writes beside them.
    """
    # An absolute folder is its own key (no getcwd per write); the key only decides when to sweep again.
    key = folder if folder.startswith("/") else os.path.abspath(folder or ".")
    now = time.monotonic()
    with _swept_lock:
        if now - _swept.get(key, -SWEEP_EVERY) < SWEEP_EVERY:
            return []
        _swept[key] = now
    try:
        names = os.listdir(key)
    except OSError:
        return []
    return [
        os.path.join(key, n) for n in names if TEMP_MARK in n and _writer_is_dead(n) and _remove(os.path.join(key, n))
    ]
