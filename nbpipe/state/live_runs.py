"""Which runs share a state directory, so a run locks tasks only when it must.

Per-task locks (:mod:`nbpipe.state.task_locks`) cost a few system calls per task.  A
run alone on its state directory — the usual case — does not need them, so
it takes them only from the moment another run appears:

1. Each run holds an exclusive ``flock`` on ``runs/<run id>.run`` for its
   whole life; the kernel drops it when the process dies, so a dead run is
   never counted as live.  The file is locked before it gets that name, so
   no one can see it unlocked and take it for a dead run's.
2. A run that starts while others are live locks every task from the start,
   and before it dispatches anything waits until each live run has
   *acknowledged* it (``acks/<new run>.<old run>``).
3. A run's watcher thread, started before that wait, lists the ``runs``
   folder every ``poll`` seconds.  On a run it has not acknowledged yet it
   switches its own run to locking mode, takes the locks of the tasks it is
   already running, then writes the acknowledgement.  Dispatching and
   switching share one mutex, so every task is either locked or was running
   (and got locked) before the newcomer starts.  Two runs that start at the
   same moment may each see the other as older; each acknowledges the
   other, so neither waits for an answer that would never come.

So two runs never run one task at once, and a lone run pays nothing per task.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time

__all__ = ["RunRegistry"]

logger = logging.getLogger("nbpipe")


class RunRegistry:
    def __init__(self, state_dir: str, run_id: str, locks, poll: float = 0.05, ack_timeout: float = 30.0):
        self.run_id = run_id
        self.locks = locks
        self.poll = poll
        self.runs_dir = os.path.join(state_dir, "runs")
        self.acks_dir = os.path.join(state_dir, "acks")
        os.makedirs(self.runs_dir, exist_ok=True)
        os.makedirs(self.acks_dir, exist_ok=True)
        self.mutex = threading.Lock()
        self.locking = False
        self.unlocked_running: set[str] = set()
        self._acked: set[str] = set()
        self._watch_failed = False
        self._stop = threading.Event()
        self._path = os.path.join(self.runs_dir, f"{run_id}.run")
        self._fd = self._create_locked(self._path)
        others = self._live_others()
        if others:
            self.locking = True
        self._thread = threading.Thread(target=self._watch, name="nbpipe-runs", daemon=True)
        self._thread.start()
        if others:
            self._wait_for_acks(others, ack_timeout)

    @staticmethod
    def _create_locked(path: str) -> int:
        """Open ``path`` holding an exclusive flock; it appears under that name only once locked."""
        starting = f"{path}.{os.getpid()}.{threading.get_ident()}.starting"
        fd = os.open(starting, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(starting, path)
        return fd

    # -- dispatch protocol (called by the run loop) --------------------------------

    def needs_lock(self, task_id: str) -> bool:
        """True when the task must be locked before it runs; else it is recorded as running."""
        with self.mutex:
            if self.locking:
                return True
            self.unlocked_running.add(task_id)
            return False

    def finished(self, task_id: str) -> None:
        with self.mutex:
            self.unlocked_running.discard(task_id)

    # -- other runs ---------------------------------------------------------------------

    def _live_others(self) -> set[str]:
        live = set()
        for name in os.listdir(self.runs_dir):
            if not name.endswith(".run") or name == f"{self.run_id}.run":
                continue
            path = os.path.join(self.runs_dir, name)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                live.add(name[:-4])  # its owner is alive and holds it
            else:
                # Nobody holds it: its run died.  Remove it (still holding our
                # shared lock, so a new owner of the same name cannot be hit).
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                self._remove_acks_of(name[:-4])  # it cannot remove them itself now
            finally:
                os.close(fd)
        return live

    def _remove_acks_of(self, run_id: str) -> None:
        """Remove the acknowledgements ``run_id`` gave and was given."""
        for name in os.listdir(self.acks_dir):
            if name.startswith(f"{run_id}.") or name.endswith(f".{run_id}"):
                try:
                    os.unlink(os.path.join(self.acks_dir, name))
                except FileNotFoundError:
                    pass

    def _wait_for_acks(self, others: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(others)
        while pending:
            pending = {o for o in pending if not os.path.exists(os.path.join(self.acks_dir, f"{self.run_id}.{o}"))}
            if pending:
                pending &= self._live_others()  # a run that died needs no answer
            if not pending:
                return
            if time.monotonic() > deadline:
                logger.warning(
                    "runs %s did not acknowledge this run within %g s; going on with per-task locks",
                    ", ".join(sorted(pending)),
                    timeout,
                )
                return
            time.sleep(self.poll / 5)  # waiting for other processes' watcher threads

    def _watch(self) -> None:
        while True:
            try:
                self._acknowledge_newcomers()
            except OSError as exc:
                if not self._watch_failed:  # say it once, not every poll
                    logger.warning("cannot look for other runs in %s: %s", self.runs_dir, exc)
                self._watch_failed = True
            if self._stop.wait(self.poll):
                return

    def _acknowledge_newcomers(self) -> None:
        # The names, not the folder's mtime: a run registered between a listing
        # and an mtime read after it leaves no change to see (nor do two files
        # made in one tick of a coarse clock), and a run missed so waits in vain.
        mine = f"{self.run_id}.run"
        if all(n == mine or not n.endswith(".run") or n[:-4] in self._acked for n in os.listdir(self.runs_dir)):
            return
        newcomers = self._live_others() - self._acked
        if not newcomers:
            return
        self._switch_to_locking()
        for run_id in newcomers:
            try:
                with open(os.path.join(self.acks_dir, f"{run_id}.{self.run_id}"), "w"):
                    pass
                self._acked.add(run_id)
            except OSError as exc:
                logger.warning("cannot acknowledge run %s: %s", run_id, exc)

    def _switch_to_locking(self) -> None:
        with self.mutex:
            if self.locking:
                return
            for task_id in sorted(self.unlocked_running):
                holder = self.locks.try_acquire(task_id)
                if holder is not None:  # cannot happen while the protocol holds
                    logger.warning("%s is running here but its lock is %s", task_id, holder.describe())
            self.unlocked_running.clear()
            self.locking = True

    def close(self) -> None:
        if self._stop.is_set():
            return  # closed already
        self._stop.set()
        self._thread.join()
        self._remove_acks_of(self.run_id)
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
