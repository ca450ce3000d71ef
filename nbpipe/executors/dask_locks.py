"""Per-task "no double run" locks for runs on a Dask cluster.

Two drivers sharing one cluster may sit on different machines with different
state directories, so file locks cannot see each other; Dask's distributed
``Lock`` lives in the cluster's scheduler and can.  The interface is the part
of :class:`nbpipe.state.task_locks.TaskLocks` the run loop uses.

A lock's lease is kept alive by its driver's client; when a driver dies, the
scheduler drops its leases after ``distributed.scheduler.locks.lease-timeout``
(30 s by default), so a crashed run never blocks the others for good.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["DaskTaskLocks", "ClusterLockPolicy"]


class ClusterHolder:
    """Who holds a task's lock, as far as the scheduler tells: another driver."""

    def __init__(self, task_id: str, address: str):
        self.task_id = task_id
        self.address = address

    def describe(self, now: float | None = None) -> str:
        return f"another driver on the Dask cluster at {self.address}"


class DaskTaskLocks:
    """Task locks held in the Dask scheduler, named after the task id."""

    def __init__(self, client: Any):
        self.client = client
        self._held: dict[str, Any] = {}

    @staticmethod
    def lock_name(task_id: str) -> str:
        digest = hashlib.sha256(task_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return f"nbpipe-task-{digest}"

    def try_acquire(self, task_id: str) -> ClusterHolder | None:
        """None when the lock is now ours; else who holds it."""
        if task_id in self._held:
            return None
        from distributed import Lock

        lock = Lock(self.lock_name(task_id), scheduler_rpc=self.client.scheduler, loop=self.client.loop)
        if lock.acquire(blocking=False):
            self._held[task_id] = lock
            return None
        _close(lock)
        return ClusterHolder(task_id, str(self.client.scheduler.address))

    def release(self, task_id: str) -> None:
        lock = self._held.pop(task_id, None)
        if lock is not None:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - the lease already expired or the scheduler is gone
                pass
            _close(lock)

    def release_all(self) -> None:
        for task_id in list(self._held):
            self.release(task_id)

    def held(self) -> list[str]:
        return sorted(self._held)

    def close(self) -> None:
        self.release_all()


def _close(lock: Any) -> None:
    """Stop this lock object's lease refresher.

    Not ``Lock.close()``: that deletes the lock in the scheduler, leases of
    other drivers included, which would let a third driver in.  The
    scheduler keeps one small entry per task name instead.
    """
    refresher = getattr(lock, "refresh_callback", None)
    if refresher is not None:
        refresher.stop()


class ClusterLockPolicy:
    """Always lock: another driver on the cluster is invisible from here."""

    def needs_lock(self, task_id: str) -> bool:
        return True

    def finished(self, task_id: str) -> None:
        pass

    def close(self) -> None:
        pass
