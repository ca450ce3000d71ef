"""Removing old lock files safely while other processes may be taking them.

Lock files are never removed on release (see :mod:`nbpipe.state.task_locks`);
:func:`prune_lock_files` removes old unlocked ones instead.
"""

from __future__ import annotations

import os
import stat
import time

from nbpipe.state.lock_files import LOCK_SUFFIX, LOCKS_SUBDIR, PROBE_FLAGS, dir_error, require_flock

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["prune_lock_files"]


def prune_lock_files(state_dir: str, older_than: float) -> int:
    """Remove lock files not modified for ``older_than`` seconds and not locked.

    Safe while other processes take locks: a file is unlinked only while
    holding its lock and only if the path still names the locked inode.
    Returns the number of files removed.
    """
    require_flock()
    locks_dir = os.path.join(os.path.abspath(os.fspath(state_dir)), LOCKS_SUBDIR)
    cutoff = time.time() - older_than
    try:
        entries = os.scandir(locks_dir)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise dir_error(locks_dir, "list lock files", exc) from exc
    removed = 0
    with entries:
        for entry in entries:
            if not entry.name.endswith(LOCK_SUFFIX):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_mtime > cutoff:
                continue
            if _remove_if_unlocked(entry.path, cutoff, locks_dir):
                removed += 1
    return removed


def _remove_if_unlocked(path: str, cutoff: float, locks_dir: str) -> bool:
    try:
        fd = os.open(path, PROBE_FLAGS)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise dir_error(locks_dir, "open lock files", exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held (or cannot be locked): keep it
        mine = os.fstat(fd)
        try:
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if current.st_ino != mine.st_ino or current.st_dev != mine.st_dev:
            return False  # replaced since we opened it: not ours to judge
        if mine.st_mtime > cutoff:
            return False  # used since we listed it
        try:
            os.unlink(path)  # while holding the lock: acquirers re-check the inode
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise dir_error(locks_dir, "remove lock files", exc) from exc
        return True
    finally:
        os.close(fd)
