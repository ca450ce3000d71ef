"""Per-task exclusive locks: no task runs twice at the same time.

Two runs of overlapping graphs (a notebook and CI, say) that share one state
directory must never run the same task at once.  Before the engine runs a
task it takes the task's lock with :meth:`TaskLocks.try_acquire`; a run that
finds the lock taken does not run the task.

How it works
------------
One file per task in ``<state_dir>/locks/``, locked with
``flock(LOCK_EX | LOCK_NB)``.  The kernel is the source of truth:

* a lock belongs to an open file description, so it is released the moment
  its holder process dies (``kill -9`` included) and a dead holder's lock is
  taken over at once; a live holder's lock can never be taken;
* two ``TaskLocks`` objects in one process (two runs in one notebook kernel)
  open the file separately and so exclude each other too.

After taking a lock the holder writes who it is into the file (JSON: pid,
host, run id, task id, acquired, heartbeat) so that others can say "held by
pid 123 on host x since 12:04, alive 3 s ago".  A daemon thread rewrites the
``heartbeat`` field every ``heartbeat_interval`` seconds.  Both are
information for people; they never decide who holds a lock.  A released lock
file is truncated, so a non-empty file that nobody has locked was left by a
process that died.

Lock files are never removed on release: unlinking a file that others may
have open races (a process holding an fd to the old inode and one that
creates a new file would both "hold" the lock).  :func:`prune_lock_files`
removes old unlocked files safely instead: it unlinks a file only while
holding its lock and only if the path still names the inode it locked, and
:meth:`TaskLocks.try_acquire` re-checks the inode after locking and starts
again when the file was replaced meanwhile.

Limits
------
* ``flock`` is local to one machine, or to a filesystem whose locks span
  machines (Linux NFS clients map ``flock`` to NFS byte-range locks).  Some
  network filesystems do not honour locks at all; keep the state directory
  on a local disk or tmpfs when in doubt.
* Lock files are named after task ids; on a case-insensitive filesystem two
  ids differing only in case share one lock (an extra exclusion, never a
  missed one).
* A process started with ``os.fork()`` (``multiprocessing``'s "fork" start
  method) closes its copies of the parent's lock descriptors, so the locks
  stay with the parent and still vanish when the parent dies.
* Each held lock keeps one file descriptor open.  When the process runs out
  (``EMFILE``) the soft ``RLIMIT_NOFILE`` is raised to the hard limit once.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import weakref

from nbpipe.state.lock_files import (
    LOCKS_SUBDIR,
    PROBE_FLAGS,
    LockError,
    LockHolder,
    dir_error,
    hostname,
    lock_file_name,
    parse_holder,
    pid_alive,
    read_all,
    require_flock,
    unknown_holder,
)
from nbpipe.state.lock_pruning import prune_lock_files

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LockError",
    "LockHolder",
    "TaskLocks",
    "lock_file_name",
    "prune_lock_files",
    "LOCKS_SUBDIR",
]

_OPEN_FLAGS = os.O_CREAT | os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
# Attempts when the lock file keeps being replaced under us (by prune_lock_files).
_MAX_ATTEMPTS = 1000
# Width of the time fields, so that a heartbeat is one fixed-size overwrite.
_TIME_WIDTH = 17  # "1732176000.123456"; enough until the year 2286


def _fmt_time(t: float) -> str:
    return f"{t:{_TIME_WIDTH}.6f}"


def _raise_fd_limit() -> bool:
    """Raise the soft RLIMIT_NOFILE to the hard limit; True if it went up."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = max(soft, 1 << 20)
        if soft >= hard:
            return False
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return True
    except (ImportError, ValueError, OSError):
        return False


# -- the locks ----------------------------------------------------------------


class _Record:
    __slots__ = ("fd", "acquired", "heartbeat", "hb_offset")

    def __init__(self, fd: int, acquired: float, hb_offset: int):
        self.fd = fd
        self.acquired = acquired
        self.heartbeat = acquired
        self.hb_offset = hb_offset


class _State:
    """Everything a TaskLocks owns; the heartbeat thread refers to this, not to the TaskLocks."""

    __slots__ = (
        "locks_dir",
        "prefix_dir",
        "run_id",
        "interval",
        "mutex",
        "records",
        "stop",
        "thread",
        "closed",
        "pid",
        "head",
        "__weakref__",
    )

    def __init__(self, locks_dir: str, run_id: str, interval: float):
        self.locks_dir = locks_dir
        self.prefix_dir = locks_dir + os.sep
        self.run_id = run_id
        self.interval = interval
        self.mutex = threading.Lock()
        self.records: dict[str, _Record] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.closed = False
        self.set_identity()

    def set_identity(self) -> None:
        self.pid = os.getpid()
        self.head = (
            f'{{"pid": {self.pid}, "host": {json.dumps(hostname())}, "run_id": {json.dumps(self.run_id)}, "task_id": '
        )


_STATES: weakref.WeakSet[_State] = weakref.WeakSet()


def _release_record(record: _Record) -> None:
    fd = record.fd
    record.fd = -1
    try:
        os.ftruncate(fd, 0)  # a free lock file is empty
    except OSError:
        pass
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)  # also for descriptions shared with forked children
    except OSError:
        pass
    os.close(fd)


def _shutdown(state: _State) -> None:
    """Release every lock and stop the heartbeat thread (close() and garbage collection)."""
    with state.mutex:
        state.closed = True
        state.stop.set()
        records = list(state.records.values())
        state.records.clear()
        for record in records:
            _release_record(record)
        thread = state.thread
        state.thread = None
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def _heartbeat_loop(state: _State) -> None:
    stop = state.stop
    while not stop.wait(state.interval):
        now = time.time()
        value = _fmt_time(now).encode()
        with state.mutex:
            records = list(state.records.values())
        # In slices, so that 10 000 held locks never block try_acquire for long.
        for start in range(0, len(records), 256):
            with state.mutex:
                for record in records[start : start + 256]:
                    if record.fd < 0:  # released meanwhile; its fd number may be reused
                        continue
                    try:
                        os.pwrite(record.fd, value, record.hb_offset)
                    except OSError:
                        pass  # informational only; the kernel lock is what counts
                    record.heartbeat = now


def _after_fork_in_child() -> None:
    # The child shares the parent's open file descriptions, hence its locks.
    # Close the copies (without unlocking, which would unlock the parent) so
    # that the locks stay the parent's and go away when the parent dies.
    for state in list(_STATES):
        for record in list(state.records.values()):
            if record.fd >= 0:
                try:
                    os.close(record.fd)
                except OSError:
                    pass
                record.fd = -1
        state.records.clear()
        state.mutex = threading.Lock()  # the parent's may have been held by another thread
        state.stop = threading.Event()
        state.thread = None
        state.set_identity()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class TaskLocks:
    """Per-task exclusive locks for one run, as files in ``<state_dir>/locks/``.

    Usable from several threads.  ``close()`` (or leaving a ``with`` block,
    or garbage collection, or interpreter exit) releases every lock.
    """

    def __init__(self, state_dir: str, run_id: str, heartbeat_interval: float = 5.0):
        require_flock()
        state_dir = os.path.abspath(os.fspath(state_dir))
        locks_dir = os.path.join(state_dir, LOCKS_SUBDIR)
        try:
            os.makedirs(locks_dir, exist_ok=True)
        except OSError as exc:
            raise dir_error(locks_dir, "create lock files", exc) from exc
        if not os.access(locks_dir, os.W_OK | os.X_OK):
            raise dir_error(locks_dir, "create lock files", PermissionError(errno.EACCES, "permission denied"))
        self.state_dir = state_dir
        self.run_id = run_id
        self.heartbeat_interval = heartbeat_interval
        self._state = _State(locks_dir, run_id, heartbeat_interval)
        _STATES.add(self._state)
        self._finalizer = weakref.finalize(self, _shutdown, self._state)

    @property
    def locks_dir(self) -> str:
        return self._state.locks_dir

    def lock_path(self, task_id: str) -> str:
        """The lock file used for ``task_id``."""
        return self._state.prefix_dir + lock_file_name(task_id)

    # -- taking and releasing ---------------------------------------------------

    def try_acquire(self, task_id: str) -> LockHolder | None:
        """Take the lock without waiting.

        None on success (also when this object already holds it); otherwise
        who holds it (a LockHolder, possibly with pid 0 and empty fields if
        the holder has not written its details yet).
        """
        state = self._state
        with state.mutex:
            if state.closed:
                raise ValueError("TaskLocks is closed")
            if task_id in state.records:
                return None
            path = state.prefix_dir + lock_file_name(task_id)
            fd_limit_raised = False
            for _ in range(_MAX_ATTEMPTS):
                try:
                    fd = os.open(path, _OPEN_FLAGS, 0o644)
                except FileNotFoundError:  # the locks directory was removed
                    try:
                        os.makedirs(state.locks_dir, exist_ok=True)
                    except OSError as exc:
                        raise dir_error(state.locks_dir, "create lock files", exc) from exc
                    continue
                except OSError as exc:
                    if exc.errno == errno.EMFILE and not fd_limit_raised:
                        fd_limit_raised = True
                        if _raise_fd_limit():
                            continue
                    if exc.errno == errno.EMFILE:
                        raise LockError(
                            f"too many open files: this process holds {len(state.records)} task locks "
                            "(one file descriptor each); raise the limit with `ulimit -n`"
                        ) from exc
                    raise dir_error(state.locks_dir, "create lock files", exc) from exc
                try:
                    taken = self._flock_or_holder(fd, task_id)
                except BaseException:
                    os.close(fd)
                    raise
                if taken is not None:
                    os.close(fd)
                    return taken
                # Locked; make sure the path still names the file we locked
                # (prune_lock_files may have unlinked it before we got it).
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    os.close(fd)
                    continue
                mine = os.fstat(fd)
                if current.st_ino != mine.st_ino or current.st_dev != mine.st_dev:
                    os.close(fd)
                    continue
                now = time.time()
                stamp = _fmt_time(now)
                tail = f', "acquired": {stamp}, "heartbeat": '
                body = (state.head + json.dumps(task_id) + tail).encode()
                data = body + stamp.encode() + b"}\n"
                try:
                    if mine.st_size:  # details left by a holder that died
                        os.ftruncate(fd, 0)
                    os.pwrite(fd, data, 0)
                except OSError:
                    pass  # details are informational; the lock is held all the same
                state.records[task_id] = _Record(fd, now, len(body))
                if state.thread is None and state.interval and state.interval > 0:
                    self._start_heartbeat()
                return None
            raise LockError(f"the lock file {path} kept being replaced while locking it; is something deleting it?")

    def _flock_or_holder(self, fd: int, task_id: str) -> LockHolder | None:
        """flock ``fd``: None when locked, else the holder read from the file."""
        for attempt in (0, 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                pass
            except OSError as exc:
                raise LockError(
                    f"cannot lock files in the nbpipe lock directory {self._state.locks_dir}: "
                    f"{exc.strerror or exc}; put the state directory (NBPIPE_STATE_DIR or "
                    "[core] state_dir) on a local filesystem that supports flock"
                ) from exc
            try:
                holder = parse_holder(read_all(fd), task_id)
            except OSError:
                holder = unknown_holder(task_id)
            stale = holder.pid and holder.host == hostname() and not pid_alive(holder.pid)
            if not holder.pid or stale:
                # No live holder wrote these details: the lock is held for an
                # instant by holder()/prune_lock_files() or by a holder that
                # has not written yet.  One more try (no waiting).
                if attempt == 0:
                    continue
                return unknown_holder(task_id)
            return holder
        raise AssertionError("unreachable")

    def _start_heartbeat(self) -> None:
        state = self._state
        thread = threading.Thread(
            target=_heartbeat_loop, args=(state,), name=f"nbpipe-lock-heartbeat-{state.run_id}", daemon=True
        )
        state.thread = thread
        thread.start()

    def release(self, task_id: str) -> None:
        """Release ``task_id``'s lock if this object holds it (idempotent)."""
        state = self._state
        if task_id not in state.records:
            # (The usual answer, as a run alone takes no locks: given without the mutex.  Only
            # try_acquire adds a record, and a caller releases a task after the acquire that
            # locked it, made by itself or under a mutex it has taken since: such a record is seen.)
            return
        with state.mutex:
            record = state.records.pop(task_id, None)
            if record is not None:
                _release_record(record)

    def release_all(self) -> None:
        state = self._state
        with state.mutex:
            records = list(state.records.values())
            state.records.clear()
            for record in records:
                _release_record(record)

    # -- queries ----------------------------------------------------------------

    def holder(self, task_id: str) -> LockHolder | None:
        """Who holds ``task_id``'s lock now (None if free); does not take it.

        Tests the lock with a non-blocking shared flock that is dropped at
        once; a try_acquire racing with that instant may report the lock as
        held by pid 0, as for a holder that has not written its details.
        """
        state = self._state
        with state.mutex:
            record = state.records.get(task_id)
            if record is not None:
                return LockHolder(state.pid, hostname(), state.run_id, task_id, record.acquired, record.heartbeat)
        path = state.prefix_dir + lock_file_name(task_id)
        for _ in range(_MAX_ATTEMPTS):
            try:
                fd = os.open(path, PROBE_FLAGS)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise dir_error(state.locks_dir, "read lock files", exc) from exc
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    held = False
                except BlockingIOError:
                    held = True
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    if held:
                        continue  # removed meanwhile: look again
                    return None
                mine = os.fstat(fd)
                if current.st_ino != mine.st_ino or current.st_dev != mine.st_dev:
                    continue  # replaced meanwhile: look again
                if not held:
                    return None
                return parse_holder(read_all(fd), task_id)
            finally:
                os.close(fd)
        return unknown_holder(task_id)

    def held(self) -> list[str]:
        """Task ids whose locks this object holds, in the order they were taken."""
        with self._state.mutex:
            return list(self._state.records)

    # -- life cycle -------------------------------------------------------------

    def close(self) -> None:
        """Release every lock and stop the heartbeat thread (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._state.closed

    def __enter__(self) -> TaskLocks:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self._state
        status = "closed" if state.closed else f"{len(state.records)} held"
        return f"<TaskLocks run={state.run_id} dir={state.locks_dir} {status}>"
